import { sql } from 'kysely'
import { isPostgres, type Db, type DbOrTransaction } from './database.js'
import type { Database } from './schema.js'
import type { Insertable, Selectable } from 'kysely'

export interface CopyCounts {
  users: number
  sessions: number
  refreshTokens: number
  signingKeys: number
  /** Webhook events not yet delivered (pending or failed). */
  webhookEvents: number
  /** The admin audit log, all of it: it is never deleted, also not by a move. */
  auditEntries: number
}

/** The target already holds accounts, and the caller did not say to merge into it. */
export class TargetNotEmptyError extends Error {
  override name = 'TargetNotEmptyError'
  constructor (readonly users: number) {
    super(`the target database already has ${users} user(s)`)
  }
}

// Rows per INSERT: well under both databases' limits on bound parameters.
const chunkSize = 500

function chunks<T> (rows: T[]): T[][] {
  const result: T[][] = []
  for (let i = 0; i < rows.length; i += chunkSize) result.push(rows.slice(i, i + chunkSize))
  return result
}

type UserRow = Selectable<Database['users']>

/**
 * Inviters before the people they invited (the graph is a forest), so every row's
 * invited_by names a row already written, whatever the ids' order.
 */
function inviterFirst (users: UserRow[]): UserRow[] {
  const byId = new Map(users.map(user => [user.id, user]))
  const depth = new Map<number, number>()
  function depthOf (user: UserRow): number {
    const known = depth.get(user.id)
    if (known !== undefined) return known
    const inviter = user.invited_by === null ? undefined : byId.get(user.invited_by)
    const value = inviter === undefined ? 0 : depthOf(inviter) + 1
    depth.set(user.id, value)
    return value
  }
  return [...users].sort((a, b) => depthOf(a) - depthOf(b) || a.id - b.id)
}

async function readSource (source: Db, now: number) {
  return await source.transaction().execute(async trx => {
    const users = await trx.selectFrom('users').selectAll().orderBy('id').execute()
    const sessions = await trx.selectFrom('sessions').selectAll()
      .where('revoked_at', 'is', null).where('expires_at', '>', now).orderBy('id').execute()
    const refreshTokens = await trx.selectFrom('refresh_tokens').selectAll()
      .where('session_id', 'in', trx.selectFrom('sessions').select('id').where('revoked_at', 'is', null).where('expires_at', '>', now))
      .orderBy('token_hash').execute()
    const signingKeys = await trx.selectFrom('signing_keys').selectAll().orderBy('generation').execute()
    // Events not yet delivered go along, in their order, so none is lost by the move.
    const webhookEvents = await trx.selectFrom('webhook_events').selectAll()
      .where('status', 'in', ['pending', 'failed']).orderBy('id').execute()
    // Deleted phones' keyed hashes: the referral guard and the device-token cut-off go along.
    const deletedPhones = await trx.selectFrom('deleted_phones').selectAll().orderBy('phone_hash').execute()
    const auditEntries = await trx.selectFrom('admin_audit').selectAll().orderBy('id').execute()
    return { users, sessions, refreshTokens, signingKeys, webhookEvents, deletedPhones, auditEntries }
  })
}

async function writeUsers (trx: DbOrTransaction, users: Array<Insertable<Database['users']>>): Promise<void> {
  for (const rows of chunks(users)) {
    await trx.insertInto('users').values(rows)
      .onConflict(oc => oc.column('id').doUpdateSet(eb => ({
        phone: eb.ref('excluded.phone'),
        invite_code: eb.ref('excluded.invite_code'),
        invited_by: eb.ref('excluded.invited_by'),
        invited_at: eb.ref('excluded.invited_at'),
        created_at: eb.ref('excluded.created_at'),
        blocked_at: eb.ref('excluded.blocked_at'),
        blocked_reason: eb.ref('excluded.blocked_reason'),
        deleted_at: eb.ref('excluded.deleted_at')
      })))
      .execute()
  }
  // Ids were written as they were: PostgreSQL's sequence must continue after the largest.
  if (isPostgres(trx)) {
    await sql`select setval(pg_get_serial_sequence('users', 'id'), coalesce((select max(id) from users), 0) + 1, false)`.execute(trx)
  }
}

/**
 * Copies accounts, live sessions and their refresh tokens (spent ones too, so a reuse is
 * still caught), the access-token signing keys, the webhook events not yet delivered and the
 * admin audit log, from
 * one database to another in one transaction on the target. Codes and
 * limit counters live minutes and are not copied. Rows are upserted by key, so running it
 * again changes nothing; a target that already has users is refused unless `force`.
 */
export async function copyData (source: Db, target: Db, options: { now: number, force: boolean }): Promise<CopyCounts> {
  const data = await readSource(source, options.now)
  await target.transaction().execute(async trx => {
    if (!options.force) {
      const { count } = await trx.selectFrom('users').select(eb => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()
      if (Number(count) > 0) throw new TargetNotEmptyError(Number(count))
    }
    await writeUsers(trx, inviterFirst(data.users))
    for (const rows of chunks(data.sessions)) {
      await trx.insertInto('sessions').values(rows)
        .onConflict(oc => oc.column('id').doUpdateSet(eb => ({
          last_seen_at: eb.ref('excluded.last_seen_at'),
          expires_at: eb.ref('excluded.expires_at'),
          revoked_at: eb.ref('excluded.revoked_at')
        })))
        .execute()
    }
    for (const rows of chunks(data.refreshTokens)) {
      await trx.insertInto('refresh_tokens').values(rows)
        .onConflict(oc => oc.column('token_hash').doUpdateSet(eb => ({ used_at: eb.ref('excluded.used_at') })))
        .execute()
    }
    // The access-token signing keys, so tokens signed before the move still verify after it;
    // a target that already made keys of its own keeps them (it then signs with its own).
    if (data.signingKeys.length > 0) await trx.insertInto('signing_keys').values(data.signingKeys).onConflict(oc => oc.doNothing()).execute()
    // New ids on the target, in the source's order (order per user); the webhook-id is the
    // key, so a second run adds nothing. A lease held on the source means nothing here.
    for (const rows of chunks(data.deletedPhones)) {
      await trx.insertInto('deleted_phones').values(rows).onConflict(oc => oc.column('phone_hash').doNothing()).execute()
    }
    for (const rows of chunks(data.webhookEvents)) {
      await trx.insertInto('webhook_events')
        .values(rows.map(({ id: _id, ...row }) => ({ ...row, lease_until: null })))
        .onConflict(oc => oc.column('msg_id').doNothing())
        .execute()
    }
    // The audit log with its ids (entries are never changed, so a second run adds nothing).
    for (const rows of chunks(data.auditEntries)) {
      await trx.insertInto('admin_audit').values(rows).onConflict(oc => oc.column('id').doNothing()).execute()
    }
    if (isPostgres(trx) && data.auditEntries.length > 0) {
      await sql`select setval(pg_get_serial_sequence('admin_audit', 'id'), coalesce((select max(id) from admin_audit), 0) + 1, false)`.execute(trx)
    }
  })
  return {
    users: data.users.length,
    sessions: data.sessions.length,
    refreshTokens: data.refreshTokens.length,
    signingKeys: data.signingKeys.length,
    webhookEvents: data.webhookEvents.length,
    auditEntries: data.auditEntries.length
  }
}
