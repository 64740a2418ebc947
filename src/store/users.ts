import { sql } from 'kysely'
import { isPostgres, type DbOrTransaction } from './database.js'
import { runPrepared } from './prepared.js'
import type { UserRow } from './schema.js'

export async function findUserByPhone (db: DbOrTransaction, phone: string): Promise<UserRow | undefined> {
  const [user] = await runPrepared(db, 'findUserByPhone', [phone], p => db.selectFrom('users').selectAll().where('phone', '=', p))
  return user
}

export async function findUserById (db: DbOrTransaction, id: number): Promise<UserRow | undefined> {
  return await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function findUserByInviteCode (db: DbOrTransaction, inviteCode: string): Promise<UserRow | undefined> {
  // A deleted account's code stays reserved, but no one may join with it any more.
  return await db.selectFrom('users').selectAll().where('invite_code', '=', inviteCode).where('deleted_at', 'is', null).executeTakeFirst()
}

/**
 * Inserts a user unless the phone or the invite code is taken; neither raises, so the
 * caller's transaction stays usable on PostgreSQL. Undefined means "taken": look up the
 * phone to tell which.
 */
export async function insertUser (db: DbOrTransaction, user: { phone: string, inviteCode: string, createdAt: number }): Promise<UserRow | undefined> {
  const [inserted] = await runPrepared(db, 'insertUser', [user.phone, user.inviteCode, user.createdAt], (phone, inviteCode, createdAt) =>
    db.insertInto('users')
      .values({ phone, invite_code: inviteCode, created_at: createdAt })
      .onConflict(oc => oc.doNothing())
      .returningAll())
  return inserted
}

export interface ProfileRow {
  id: number
  phone: string
  inviteCode: string
  activatedInviteCode: string | null
  /** Oldest first, at most the limit asked for; invitedCount tells how many there are in all. */
  invitedPhones: string[]
  invitedCount: number
}

export async function findProfile (db: DbOrTransaction, userId: number, invitedLimit: number): Promise<ProfileRow | undefined> {
  const [user] = await runPrepared(db, 'findProfile.user', [userId], id =>
    db.selectFrom('users')
      .leftJoin('users as inviter', 'inviter.id', 'users.invited_by')
      .select(eb => [
        'users.id', 'users.phone', 'users.invite_code', 'inviter.invite_code as inviter_code',
        eb.selectFrom('users as invited').select(eb.fn.countAll<number>().as('n')).whereRef('invited.invited_by', '=', 'users.id').as('invited_count')
      ])
      .where('users.id', '=', id))
  if (user === undefined) return undefined
  const invitedPhones = user.invited_count === 0 ? [] : await listInvitedPhones(db, userId, invitedLimit, 0)
  return {
    id: user.id,
    phone: user.phone,
    inviteCode: user.invite_code,
    activatedInviteCode: user.inviter_code,
    invitedPhones,
    invitedCount: Number(user.invited_count)
  }
}

/** A page of the phones of the users who joined with this user's code, oldest first. */
export async function listInvitedPhones (db: DbOrTransaction, userId: number, limit: number, offset: number): Promise<string[]> {
  const rows = await runPrepared(db, 'listInvitedPhones', [userId, limit, offset], (id, max, skip) =>
    db.selectFrom('users')
      .select('phone')
      .where('invited_by', '=', id)
      .orderBy('invited_at').orderBy('id')
      .limit(max)
      .offset(skip))
  return rows.map(row => row.phone)
}

/**
 * True when `ancestorId` is `userId` or stands above it in the referral chain (walking
 * invited_by upwards). Activating a code of such a user would close a cycle.
 */
export async function isInReferralChain (db: DbOrTransaction, userId: number, ancestorId: number): Promise<boolean> {
  const result = await sql<{ found: number }>`
    with recursive chain(id, invited_by, depth) as (
      select id, invited_by, 0 from users where id = ${userId}
      union all
      select users.id, users.invited_by, chain.depth + 1
      from users join chain on users.id = chain.invited_by
      where chain.depth < 100000
    )
    select 1 as found from chain where id = ${ancestorId} limit 1
  `.execute(db)
  return result.rows.length > 0
}

/** Sets the inviter once: of parallel activations, only the first gets a row back. */
export async function setInviter (db: DbOrTransaction, userId: number, inviterId: number, now: number): Promise<boolean> {
  const row = await db.updateTable('users')
    .set({ invited_by: inviterId, invited_at: now })
    .where('id', '=', userId)
    .where('invited_by', 'is', null)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

/**
 * Serialises changes to the referral graph, so two users taking each other's codes at the
 * same moment cannot both pass the cycle check. SQLite's write transactions are already
 * serial (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock.
 */
export async function lockReferralGraph (db: DbOrTransaction): Promise<void> {
  if (isPostgres(db)) await sql`select pg_advisory_xact_lock(7011)`.execute(db)
}

/**
 * Blocks the user unless already blocked or deleted; true when this call blocked them. The row
 * lock the update takes orders it with a sign-in's `lockUnblockedUser` on the same row, and
 * with a deletion's tombstone: a block that waited for a deletion finds a tombstone, not a user.
 */
export async function blockUser (db: DbOrTransaction, userId: number, reason: string, now: number): Promise<boolean> {
  const row = await db.updateTable('users').set({ blocked_at: now, blocked_reason: reason })
    .where('id', '=', userId)
    .where('blocked_at', 'is', null)
    .where('deleted_at', 'is', null)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

/** Lifts a block; true when the user was blocked. */
export async function unblockUser (db: DbOrTransaction, userId: number): Promise<boolean> {
  const row = await db.updateTable('users').set({ blocked_at: null, blocked_reason: null })
    .where('id', '=', userId)
    .where('blocked_at', 'is not', null)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

/**
 * Locks the user's row for the rest of the transaction unless the user is blocked; false when
 * blocked. A sign-in takes it before opening its session: on PostgreSQL a block committed
 * meanwhile is seen (the update re-reads the row it waited for), and a block that comes after
 * waits for the sign-in to commit, then revokes the session it opened. One statement for both
 * dialects (SQLite's write transactions are serial anyway).
 */
export async function lockUnblockedUser (db: DbOrTransaction, userId: number): Promise<boolean> {
  const [row] = await runPrepared(db, 'lockUnblockedUser', [userId], id =>
    db.updateTable('users').set(eb => ({ id: eb.ref('id') }))
      .where('id', '=', id)
      .where('blocked_at', 'is', null)
      .returning('id'))
  return row !== undefined
}

/**
 * Locks the user's row for the rest of the transaction unless the account is deleted, and
 * returns it as it is now; undefined when there is no such account. Admin actions on one user
 * take it first, so they run one after another (PostgreSQL: the row lock; SQLite: one writer),
 * each seeing what the one before did. One statement for both dialects.
 */
export async function lockLiveUser (db: DbOrTransaction, userId: number): Promise<UserRow | undefined> {
  return await db.updateTable('users').set(eb => ({ id: eb.ref('id') }))
    .where('id', '=', userId)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst()
}
