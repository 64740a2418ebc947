import { sql } from 'kysely'
import { DomainError } from '../domain/errors.js'
import type { DbOrTransaction } from './database.js'

// Deleting an account: what goes, and the little that is kept (docs/SECURITY.md).

/**
 * Turns the user's row into a tombstone: the phone becomes `#<id>` (never an E.164 number, so
 * the phone is free for a new account), the person leaves their inviter's list (invited_by
 * null), the block goes; the invite code stays, reserved, and the rows of those who joined
 * with it keep pointing here. True when this call deleted the account.
 */
export async function tombstoneUser (db: DbOrTransaction, userId: number, now: number): Promise<boolean> {
  const row = await db.updateTable('users')
    .set({ phone: sql<string>`'#' || id`, deleted_at: now, invited_by: null, invited_at: null, blocked_at: null, blocked_reason: null })
    .where('id', '=', userId)
    .where('deleted_at', 'is', null)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

/**
 * Every session of the user and its refresh tokens, with their times, addresses and user
 * agents. The tokens go first, then the sessions: a refresh in flight holds its token's row and
 * then needs the session's key, so taking the session first could deadlock with it.
 */
export async function deleteUserSessions (db: DbOrTransaction, userId: number): Promise<number> {
  await db.deleteFrom('refresh_tokens')
    .where('session_id', 'in', eb => eb.selectFrom('sessions').select('id').where('user_id', '=', userId))
    .execute()
  const result = await db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** The phone's login code, spent or not (with the address it was asked from). */
export async function deleteLoginCodes (db: DbOrTransaction, phone: string): Promise<void> {
  await db.deleteFrom('login_codes').where('phone', '=', phone).execute()
}

/**
 * Keeps the deleted phone's keyed hash: when (the last deletion) and whether any deleted
 * account of it had activated an invite code (once true, it stays true).
 */
export async function keepDeletedPhone (db: DbOrTransaction, phoneHash: string, now: number, hadActivated: boolean): Promise<void> {
  await db.insertInto('deleted_phones').values({ phone_hash: phoneHash, deleted_at: now, had_activated: hadActivated ? 1 : 0 })
    .onConflict(oc => oc.column('phone_hash').doUpdateSet({
      deleted_at: now,
      had_activated: sql<number>`case when deleted_phones.had_activated = 1 or excluded.had_activated = 1 then 1 else 0 end`
    }))
    .execute()
}

/** The kept record of one of the hashes (one per key, for secret rotation), if any. */
export async function findDeletedPhone (db: DbOrTransaction, phoneHashes: readonly string[]): Promise<{ deletedAt: number, hadActivated: boolean } | undefined> {
  if (phoneHashes.length === 0) return undefined
  const rows = await db.selectFrom('deleted_phones').select(['deleted_at', 'had_activated'])
    .where('phone_hash', 'in', [...phoneHashes])
    .execute()
  if (rows.length === 0) return undefined
  return { deletedAt: Math.max(...rows.map(row => Number(row.deleted_at))), hadActivated: rows.some(row => Number(row.had_activated) === 1) }
}

/** Records of phones that never activated a code serve device tokens only: gone once those have expired. */
export async function deleteDeletedPhonesBefore (db: DbOrTransaction, before: number): Promise<number> {
  const result = await db.deleteFrom('deleted_phones').where('had_activated', '=', 0).where('deleted_at', '<', before).executeTakeFirst()
  return Number(result.numDeletedRows)
}

export interface UserData {
  user: { id: number, phone: string, invite_code: string, created_at: number, invited_at: number | null }
  inviter: { phone: string, invite_code: string, deleted: boolean } | undefined
  invited: Array<{ phone: string, invited_at: number | null }>
  sessions: Array<{ kind: string, method: string, created_at: number, last_seen_at: number, expires_at: number, revoked_at: number | null, ip: string | null, user_agent: string | null }>
  loginCode: { created_at: number, expires_at: number, attempts: number, ip: string | null, spent_at: number | null } | undefined
  events: Array<{ type: string, status: string, created_at: number, payload: string }>
  passkeys: Array<{ id: string, name: string, device_type: string, backed_up: number, transports: string, created_at: number, last_used_at: number | null }>
}

/** Everything stored about a user, for their own copy (GDPR articles 15 and 20). Session ids stay out: they are credentials. */
export async function readUserData (db: DbOrTransaction, userId: number): Promise<UserData | undefined> {
  const user = await db.selectFrom('users').select(['id', 'phone', 'invite_code', 'created_at', 'invited_at', 'invited_by'])
    .where('id', '=', userId).where('deleted_at', 'is', null).executeTakeFirst()
  if (user === undefined) return undefined
  const inviter = user.invited_by === null
    ? undefined
    : await db.selectFrom('users').select(['phone', 'invite_code', 'deleted_at']).where('id', '=', user.invited_by).executeTakeFirst()
  const invited = await db.selectFrom('users').select(['phone', 'invited_at'])
    .where('invited_by', '=', userId).orderBy('invited_at').orderBy('id').execute()
  const sessions = await db.selectFrom('sessions')
    .select(['kind', 'method', 'created_at', 'last_seen_at', 'expires_at', 'revoked_at', 'ip', 'user_agent'])
    .where('user_id', '=', userId).orderBy('created_at').execute()
  const loginCode = await db.selectFrom('login_codes').select(['created_at', 'expires_at', 'attempts', 'ip', 'spent_at'])
    .where('phone', '=', user.phone).executeTakeFirst()
  const events = await db.selectFrom('webhook_events').select(['type', 'status', 'created_at', 'payload'])
    .where('user_id', '=', userId).orderBy('id').execute()
  // The public keys stay out: of no use to the person, and not theirs to carry elsewhere.
  const passkeys = await db.selectFrom('passkeys').select(['id', 'name', 'device_type', 'backed_up', 'transports', 'created_at', 'last_used_at'])
    .where('user_id', '=', userId).orderBy('created_at').execute()
  return {
    user: { id: Number(user.id), phone: user.phone, invite_code: user.invite_code, created_at: Number(user.created_at), invited_at: user.invited_at === null ? null : Number(user.invited_at) },
    inviter: inviter === undefined ? undefined : { phone: inviter.phone, invite_code: inviter.invite_code, deleted: inviter.deleted_at !== null },
    invited: invited.map(row => ({ phone: row.phone, invited_at: row.invited_at === null ? null : Number(row.invited_at) })),
    sessions: sessions.map(row => ({ ...row, created_at: Number(row.created_at), last_seen_at: Number(row.last_seen_at), expires_at: Number(row.expires_at), revoked_at: row.revoked_at === null ? null : Number(row.revoked_at) })),
    loginCode: loginCode === undefined ? undefined : { ...loginCode, created_at: Number(loginCode.created_at), expires_at: Number(loginCode.expires_at), spent_at: loginCode.spent_at === null ? null : Number(loginCode.spent_at) },
    events: events.map(row => ({ ...row, created_at: Number(row.created_at) })),
    passkeys: passkeys.map(row => ({ ...row, created_at: Number(row.created_at), last_used_at: row.last_used_at === null ? null : Number(row.last_used_at) }))
  }
}

function isUniqueViolation (error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE'
}

/**
 * Moves the account to a new phone unless another account has it. 'taken' when one has it (the
 * caller's transaction stays usable); a sign-up of the same phone committing between the check
 * and the write trips the unique index instead, which throws phone_taken (and, on PostgreSQL,
 * ends the caller's transaction: it rolls back).
 */
export async function movePhone (db: DbOrTransaction, userId: number, phone: string): Promise<'moved' | 'taken' | 'gone'> {
  const holder = await db.selectFrom('users').select('id').where('phone', '=', phone).executeTakeFirst()
  if (holder !== undefined) return 'taken'
  try {
    const row = await db.updateTable('users').set({ phone })
      .where('id', '=', userId).where('deleted_at', 'is', null)
      .returning('id').executeTakeFirst()
    return row === undefined ? 'gone' : 'moved'
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('phone_taken', { field: 'phone' })
    throw error
  }
}
