import { createHash } from 'node:crypto'
import { SqliteDatabase } from '../../src/store/sqlite-driver.js'

// What the crash test's clients were promised. Only an answer is a promise: a 2xx is recorded
// here the moment it arrives; a request whose answer was lost (the server died with it in
// flight) may or may not have committed, and is kept apart as "unknown". The checks read the
// SQLite file itself, read-only, while no server runs.

export type Activation = 'none' | 'pending' | 'done' | 'unknown'

export interface LedgerUser {
  phone: string
  id: number
  inviteCode: string
  /** Only the client loop that created the user activates a code for it, one request at a time. */
  activation: Activation
  inviterPhone?: string
}

export interface LedgerSession {
  id: string
  phone: string
  userId: number
  /** The newest refresh token a 2xx handed out for it. */
  refresh: string
  access: string
  loggedOut: boolean
  /** A refresh or logout for it is in flight. */
  pending: boolean
  /** A refresh or logout lost its answer: the current token and the revocation are unknown. */
  lost?: 'refresh' | 'logout'
}

/** The login code of a phone: sent (register 2xx), spent (verify 2xx), a request in flight, or unknown (an answer lost). */
export type CodeState = 'sent' | 'spent' | 'pending' | 'unknown'

export class Ledger {
  readonly users = new Map<string, LedgerUser>()
  readonly usersInOrder: LedgerUser[] = []
  readonly sessions: LedgerSession[] = []
  /** New phones whose verify lost its answer: the account may exist. */
  readonly unknownPhones = new Set<string>()
  readonly codes = new Map<string, CodeState>()
  /** Per inviter phone: activations answered 2xx, and those in flight or lost. */
  readonly invitedKnown = new Map<string, number>()
  readonly invitedMaybe = new Map<string, number>()
  lostSignIns = 0
  rotations = 0
  lostRotations = 0

  addUser (user: LedgerUser): void {
    this.users.set(user.phone, user)
    this.usersInOrder.push(user)
  }

  bump (map: Map<string, number>, phone: string, by: number): void {
    map.set(phone, (map.get(phone) ?? 0) + by)
  }
}

export function hashToken (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

interface UserRow { id: number, phone: string, invite_code: string, invited_by: number | null }
interface SessionRow { id: string, user_id: number, kind: string, revoked_at: number | null }
interface TokenRow { token_hash: string, session_id: string, used_at: number | null }

export interface FileReport {
  integrity: string
  foreignKeyProblems: number
  /** Rows that only a half-done transaction could leave; each count must be 0. */
  halfWritten: Record<string, number>
  /** Ledger promises the file does not keep, and (final) rows the ledger cannot explain. */
  problems: string[]
  counts: { users: number, sessions: number, refreshTokens: number, loginCodes: number, invited: number }
}

const halfWrittenQueries: Record<string, string> = {
  // A user is created only in the sign-in transaction that also opens its session.
  'users without a session': 'select count(*) from users u where not exists (select 1 from sessions s where s.user_id = u.id)',
  // An app session gets its first refresh token in the same transaction.
  'api sessions without a refresh token': 'select count(*) from sessions s where s.kind = \'api\' and not exists (select 1 from refresh_tokens r where r.session_id = s.id)',
  // Rotation spends one token and issues the next in one transaction: a live session always
  // holds exactly one unspent token.
  'live api sessions without exactly one unspent token': `select count(*) from sessions s where s.kind = 'api' and s.revoked_at is null
    and (select count(*) from refresh_tokens r where r.session_id = s.id and r.used_at is null) <> 1`,
  'sessions with several unspent tokens': 'select count(*) from sessions s where (select count(*) from refresh_tokens r where r.session_id = s.id and r.used_at is null) > 1',
  'activations with half their columns': 'select count(*) from users where (invited_by is null) <> (invited_at is null)',
  'self-invitations': 'select count(*) from users where invited_by = id'
}

/**
 * Opens the file read-only (no server runs) and compares it with the ledger. Every promise
 * must hold at any moment. `final` (every client loop has finished, nothing in flight) also
 * checks the other way: every row is explained by a 2xx or by a request whose answer was lost.
 */
export function inspectFile (file: string, ledger: Ledger, final: boolean): FileReport {
  const database = new SqliteDatabase(file, { readonly: true, fileMustExist: true })
  try {
    const integrity = (database.pragma('integrity_check') as Array<{ integrity_check: string }>).map(row => row.integrity_check).join('; ')
    const foreignKeyProblems = (database.pragma('foreign_key_check') as unknown[]).length
    const halfWritten: Record<string, number> = {}
    for (const [name, query] of Object.entries(halfWrittenQueries)) halfWritten[name] = database.prepare(query).pluck().get() as number
    const users = database.prepare('select id, phone, invite_code, invited_by from users').all() as UserRow[]
    const sessions = database.prepare('select id, user_id, kind, revoked_at from sessions').all() as SessionRow[]
    const tokens = database.prepare('select token_hash, session_id, used_at from refresh_tokens').all() as TokenRow[]
    const codePhones = database.prepare('select phone from login_codes where spent_at is null').pluck().all() as string[]
    const problems = [...checkPromises(ledger, users, sessions, tokens, codePhones)]
    if (final) problems.push(...checkExplained(ledger, users, sessions, tokens, codePhones))
    return {
      integrity,
      foreignKeyProblems,
      halfWritten,
      problems,
      counts: {
        users: users.length,
        sessions: sessions.length,
        refreshTokens: tokens.length,
        loginCodes: codePhones.length,
        invited: users.filter(user => user.invited_by !== null).length
      }
    }
  } finally {
    database.close()
  }
}

/** Every 2xx the clients received is in the file. */
function * checkPromises (ledger: Ledger, users: UserRow[], sessions: SessionRow[], tokens: TokenRow[], codePhones: string[]): Generator<string> {
  const userByPhone = new Map(users.map(user => [user.phone, user]))
  for (const user of ledger.usersInOrder) {
    const row = userByPhone.get(user.phone)
    if (row === undefined) { yield `user ${user.phone} (id ${user.id}) is gone`; continue }
    if (row.id !== user.id || row.invite_code !== user.inviteCode) yield `user ${user.phone} is ${JSON.stringify(row)}, was id ${user.id} code ${user.inviteCode}`
    const inviterId = user.inviterPhone === undefined ? undefined : ledger.users.get(user.inviterPhone)?.id
    if (user.activation === 'done' && row.invited_by !== inviterId) yield `user ${user.phone}: activation of ${user.inviterPhone} answered 2xx, invited_by is ${row.invited_by}`
    if (user.activation === 'none' && row.invited_by !== null) yield `user ${user.phone} never activated a code, invited_by is ${row.invited_by}`
    if ((user.activation === 'pending' || user.activation === 'unknown') && row.invited_by !== null && row.invited_by !== inviterId) {
      yield `user ${user.phone}: invited_by ${row.invited_by} is not the inviter it asked for`
    }
  }
  const sessionById = new Map(sessions.map(session => [session.id, session]))
  const tokenByHash = new Map(tokens.map(token => [token.token_hash, token]))
  for (const session of ledger.sessions) {
    const row = sessionById.get(session.id)
    if (row === undefined) { yield `session ${session.id} of ${session.phone} is gone`; continue }
    if (row.user_id !== session.userId) yield `session ${session.id} belongs to user ${row.user_id}, not ${session.userId}`
    const token = tokenByHash.get(hashToken(session.refresh))
    if (token?.session_id !== session.id) yield `session ${session.id}: its newest refresh token is gone`
    if (session.loggedOut && row.revoked_at === null) yield `session ${session.id}: logout answered 204, the session is live`
    if (!session.loggedOut && !session.pending && session.lost === undefined) {
      if (row.revoked_at !== null) yield `session ${session.id} was revoked, no logout was asked for`
      if (token !== undefined && token.used_at !== null) yield `session ${session.id}: its newest refresh token is spent, it was never presented`
    }
  }
  const liveCodes = new Set(codePhones)
  for (const [phone, state] of ledger.codes) {
    if (state === 'sent' && !liveCodes.has(phone)) yield `the code sent to ${phone} (register 200) is gone`
  }
}

/** Every row is a 2xx in the ledger or the effect of a request whose answer was lost. */
function * checkExplained (ledger: Ledger, users: UserRow[], sessions: SessionRow[], tokens: TokenRow[], codePhones: string[]): Generator<string> {
  const idToPhone = new Map(users.map(user => [user.id, user.phone]))
  for (const row of users) {
    const user = ledger.users.get(row.phone)
    if (user === undefined && !ledger.unknownPhones.has(row.phone)) yield `user ${row.phone} was never signed in`
    if (row.invited_by === null) continue
    const inviter = idToPhone.get(row.invited_by)
    if (user === undefined || user.inviterPhone !== inviter || (user.activation !== 'done' && user.activation !== 'unknown')) {
      yield `user ${row.phone} is invited by ${inviter ?? row.invited_by}: no activation explains it`
    }
  }
  if (users.length > ledger.users.size + ledger.unknownPhones.size) yield `${users.length} users, the ledger explains ${ledger.users.size} + ${ledger.unknownPhones.size}`
  const known = new Map(ledger.sessions.map(session => [session.id, session]))
  const unexplained = sessions.filter(row => !known.has(row.id))
  if (unexplained.length > ledger.lostSignIns) yield `${unexplained.length} sessions no 2xx announced, ${ledger.lostSignIns} sign-ins lost their answer`
  for (const row of sessions) {
    const session = known.get(row.id)
    if (session !== undefined && row.revoked_at !== null && !session.loggedOut && session.lost !== 'logout') yield `session ${row.id} is revoked, no logout was asked for`
  }
  // One token per session at sign-in, one more per committed rotation.
  const committedRotations = tokens.length - sessions.length
  if (committedRotations < ledger.rotations || committedRotations > ledger.rotations + ledger.lostRotations) {
    yield `${committedRotations} rotations in the file, ${ledger.rotations} answered 200 and ${ledger.lostRotations} lost`
  }
  for (const phone of codePhones) {
    const state = ledger.codes.get(phone)
    if (state !== 'sent' && state !== 'unknown') yield `a login code for ${phone} is left, its code state is ${String(state)}`
  }
}
