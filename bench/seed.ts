import { SqliteDatabase } from '../src/store/sqlite-driver.js'
import { createAccessTokens } from '../src/services/access-tokens.js'
import { systemClock } from '../src/services/clock.js'
import { deriveKeys, generateOpaqueToken, hashOpaqueToken } from '../src/services/keys.js'
import { createSigningKeys } from '../src/services/signing-keys.js'
import { inviteCodeAlphabet } from '../src/domain/codes.js'
import { createDatabase } from '../src/store/database.js'
import { migrateToLatest } from '../src/store/migrator.js'

export interface SeededToken {
  access: string
  refresh: string
}

/** A distinct, valid invite code per index: the index written in the invite alphabet. */
function inviteCodeFor (index: number): string {
  let code = ''
  let rest = index
  for (let i = 0; i < 6; i++) {
    code = inviteCodeAlphabet[rest % inviteCodeAlphabet.length] + code
    rest = Math.floor(rest / inviteCodeAlphabet.length)
  }
  return code
}

/** Seeded phones live in +7 999 …, apart from the ones the register scenario makes. */
export function seededPhone (index: number): string {
  return '+7999' + String(index).padStart(7, '0')
}

export async function migrate (file: string): Promise<void> {
  const db = createDatabase(`sqlite:${file}`)
  await migrateToLatest(db)
  await db.destroy()
}

/**
 * Bulk path: `users` users in one transaction with prepared statements, the first
 * `invitedEach.length` of them with invitees taken from the rest. Returns nothing: tokens
 * are minted separately, for the users that need them.
 */
export function seedUsers (file: string, users: number, invitees: (userIndex: number) => number): void {
  const database = new SqliteDatabase(file)
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = OFF')
  const insert = database.prepare('insert into users (id, phone, invite_code, invited_by, invited_at, created_at) values (?, ?, ?, ?, ?, ?)')
  const now = Date.now()
  database.transaction(() => {
    let nextInvitee = users
    for (let i = 1; i <= users; i++) insert.run(i, seededPhone(i), inviteCodeFor(i), null, null, now)
    // Invitees are extra users whose invited_by points at an inviter.
    for (let inviter = 1; inviter <= users; inviter++) {
      const count = invitees(inviter)
      for (let k = 0; k < count; k++) {
        nextInvitee++
        insert.run(nextInvitee, seededPhone(nextInvitee), inviteCodeFor(nextInvitee), inviter, now + k, now)
      }
    }
  })()
  database.close()
}

/**
 * Opens an api session with a refresh token for each user id and mints its access token with
 * the file's signing key (made here, as the server would make it: ES256, the default).
 */
export async function seedSessions (file: string, secret: string, userIds: number[]): Promise<SeededToken[]> {
  const db = createDatabase(`sqlite:${file}`)
  const quiet = { info: () => {}, warn: () => {}, error: () => {} }
  const signingKeys = createSigningKeys({ db, clock: systemClock, keys: deriveKeys([secret]), logger: quiet }, { algorithm: 'ES256', accessTokenTtlSeconds: 3600, publishLeadSeconds: 3600, rotationDays: 0 })
  await signingKeys.start()
  await db.destroy()
  const accessTokens = createAccessTokens(signingKeys, { ttlSeconds: 3600 }, systemClock)
  const database = new SqliteDatabase(file)
  const insertSession = database.prepare('insert into sessions (id, user_id, kind, created_at, last_seen_at, expires_at, revoked_at, user_agent, ip) values (?, ?, \'api\', ?, ?, ?, null, \'bench\', \'127.0.0.1\')')
  const insertRefresh = database.prepare('insert into refresh_tokens (token_hash, session_id, created_at, used_at) values (?, ?, ?, null)')
  const now = Date.now()
  const tokens: SeededToken[] = []
  database.transaction(() => {
    for (const userId of userIds) {
      const sessionId = generateOpaqueToken().slice(0, 32)
      const refresh = generateOpaqueToken()
      insertSession.run(sessionId, userId, now, now, now + 86_400_000)
      insertRefresh.run(hashOpaqueToken(refresh), sessionId, now)
      tokens.push({ access: accessTokens.sign({ userId, sessionId }), refresh })
    }
  })()
  database.close()
  return tokens
}

export function inviteCodeOf (userIndex: number): string {
  return inviteCodeFor(userIndex)
}

/** A copy of the SQLite file `from` at `to`, as it stands (for a server of its own on the same data). */
export function copyDatabase (from: string, to: string): void {
  const database = new SqliteDatabase(from)
  database.prepare('vacuum into ?').run(to)
  database.close()
}
