import type { DbOrTransaction } from './database.js'
import { runPrepared } from './prepared.js'
import type { NewSession, SessionRow } from './schema.js'

export async function insertSession (db: DbOrTransaction, session: NewSession): Promise<void> {
  await runPrepared(db, 'insertSession',
    [session.id, session.user_id, session.kind, session.created_at, session.last_seen_at, session.expires_at, session.user_agent ?? null, session.ip ?? null, session.method ?? 'phone', session.passkey_at ?? null, session.passkey_id ?? null],
    (id, userId, kind, createdAt, lastSeenAt, expiresAt, userAgent, ip, method, passkeyAt, passkeyId) => db.insertInto('sessions')
      .values({ id, user_id: userId, kind, created_at: createdAt, last_seen_at: lastSeenAt, expires_at: expiresAt, user_agent: userAgent, ip, method, passkey_at: passkeyAt, passkey_id: passkeyId }))
}

/** A passkey proved this live session now (an admin's second factor); false when the session is gone. */
export async function notePasskeyProof (db: DbOrTransaction, sessionId: string, userId: number, passkeyId: string, now: number): Promise<boolean> {
  const row = await db.updateTable('sessions').set({ passkey_at: now, passkey_id: passkeyId })
    .where('id', '=', sessionId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

export async function findLiveSession (db: DbOrTransaction, sessionId: string, now: number): Promise<SessionRow | undefined> {
  const [session] = await runPrepared(db, 'findLiveSession', [sessionId, now], (id, at) =>
    db.selectFrom('sessions').selectAll()
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', at))
  return session
}

export async function listLiveSessions (db: DbOrTransaction, userId: number, now: number): Promise<SessionRow[]> {
  return await db.selectFrom('sessions').selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('last_seen_at', 'desc')
    .execute()
}

export async function touchSession (db: DbOrTransaction, sessionId: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', sessionId).execute()
}

export async function revokeSession (db: DbOrTransaction, sessionId: string, now: number): Promise<boolean> {
  const row = await db.updateTable('sessions').set({ revoked_at: now })
    .where('id', '=', sessionId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

/**
 * Revokes one session of the user: 'revoked' by this call, 'ended' when it was revoked already,
 * 'none' when the user has no session with this id.
 */
export async function revokeUserSession (db: DbOrTransaction, userId: number, sessionId: string, now: number): Promise<'revoked' | 'ended' | 'none'> {
  const row = await db.updateTable('sessions').set({ revoked_at: now })
    .where('id', '=', sessionId)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .executeTakeFirst()
  if (row !== undefined) return 'revoked'
  const kept = await db.selectFrom('sessions').select('id').where('id', '=', sessionId).where('user_id', '=', userId).executeTakeFirst()
  return kept === undefined ? 'none' : 'ended'
}

/**
 * Revokes the user's live sessions but `keep`, or with `passkeyId` only those that passkey
 * signed in or proved; returns how many.
 */
export async function revokeUserSessions (db: DbOrTransaction, userId: number, now: number, { keep, passkeyId }: { keep?: string | undefined, passkeyId?: string } = {}): Promise<number> {
  let query = db.updateTable('sessions').set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
  if (keep !== undefined) query = query.where('id', '!=', keep)
  if (passkeyId !== undefined) query = query.where('passkey_id', '=', passkeyId)
  const rows = await query.returning('id').execute()
  return rows.length
}

export async function insertRefreshToken (db: DbOrTransaction, token: { tokenHash: string, sessionId: string, createdAt: number }): Promise<void> {
  await runPrepared(db, 'insertRefreshToken', [token.tokenHash, token.sessionId, token.createdAt], (tokenHash, sessionId, createdAt) =>
    db.insertInto('refresh_tokens').values({ token_hash: tokenHash, session_id: sessionId, created_at: createdAt }))
}

/** Marks the token used; only one caller ever gets its session id back. */
export async function spendRefreshToken (db: DbOrTransaction, tokenHash: string, now: number): Promise<string | undefined> {
  const [row] = await runPrepared(db, 'spendRefreshToken', [now, tokenHash], (at, hash) =>
    db.updateTable('refresh_tokens').set({ used_at: at })
      .where('token_hash', '=', hash)
      .where('used_at', 'is', null)
      .returning('session_id'))
  return row?.session_id
}

export async function findRefreshToken (db: DbOrTransaction, tokenHash: string): Promise<{ session_id: string, used_at: number | null } | undefined> {
  const [row] = await runPrepared(db, 'findRefreshToken', [tokenHash], hash =>
    db.selectFrom('refresh_tokens').select(['session_id', 'used_at']).where('token_hash', '=', hash))
  return row
}
