import { sql } from 'kysely'
import { isPostgres, type DbOrTransaction } from './database.js'

// Retention's deletes (services/retention.ts): each takes at most `batch` rows, so its
// statement is short and its locks few however much is due, and any number of instances may run
// them at once: on PostgreSQL a batch skips the rows another holds (FOR UPDATE SKIP LOCKED)
// instead of waiting for them; SQLite has one writer at a time.

/** `select` with FOR UPDATE SKIP LOCKED on PostgreSQL. */
function skippingLocked<T extends { forUpdate: () => T, skipLocked: () => T }> (db: DbOrTransaction, select: T): T {
  return isPostgres(db) ? select.forUpdate().skipLocked() : select
}

/**
 * Sessions that ended (expired or revoked) before `endedBefore`; their refresh tokens go with
 * them (ON DELETE CASCADE). A live session has not ended: it is never one of them.
 */
export async function deleteEndedSessions (db: DbOrTransaction, endedBefore: number, batch: number): Promise<number> {
  const due = skippingLocked(db, db.selectFrom('sessions').select('id')
    .where(eb => eb.or([eb('expires_at', '<', endedBefore), eb('revoked_at', '<', endedBefore)]))
    .limit(batch))
  const result = await db.deleteFrom('sessions').where('id', 'in', due).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Login codes that expired before `expiredBefore` (spent or not: a live code has not expired). */
export async function deleteExpiredLoginCodes (db: DbOrTransaction, expiredBefore: number, batch: number): Promise<number> {
  const due = skippingLocked(db, db.selectFrom('login_codes').select('phone').where('expires_at', '<', expiredBefore).limit(batch))
  const result = await db.deleteFrom('login_codes').where('phone', 'in', due).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Limit counters whose window ended at or before `now`. */
export async function deleteEndedCounters (db: DbOrTransaction, now: number, batch: number): Promise<number> {
  const lock = isPostgres(db) ? sql` for update skip locked` : sql``
  const result = await sql`delete from limit_counters where (key, window_start) in (select key, window_start from limit_counters where expires_at <= ${now} limit ${batch}${lock})`.execute(db)
  return Number(result.numAffectedRows ?? 0)
}

/** Deleted phones' hashes kept only for device tokens (not a phone that had activated a code), deleted before `before`. */
export async function deleteForgettablePhones (db: DbOrTransaction, before: number, batch: number): Promise<number> {
  const due = skippingLocked(db, db.selectFrom('deleted_phones').select('phone_hash').where('had_activated', '=', 0).where('deleted_at', '<', before).limit(batch))
  const result = await db.deleteFrom('deleted_phones').where('phone_hash', 'in', due).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Delivered webhook events finished before `before`. */
export async function deleteDeliveredEventsBatch (db: DbOrTransaction, before: number, batch: number): Promise<number> {
  const due = skippingLocked(db, db.selectFrom('webhook_events').select('id').where('status', '=', 'delivered').where('finished_at', '<', before).limit(batch))
  const result = await db.deleteFrom('webhook_events').where('id', 'in', due).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Messages (issue 25: a code's channel, provider id and fate) created before `before`. */
export async function deleteOldMessages (db: DbOrTransaction, before: number, batch: number): Promise<number> {
  const due = skippingLocked(db, db.selectFrom('messages').select('id').where('created_at', '<', before).limit(batch))
  const result = await db.deleteFrom('messages').where('id', 'in', due).executeTakeFirst()
  return Number(result.numDeletedRows)
}
