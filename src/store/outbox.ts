import { sql } from 'kysely'
import { isPostgres, type DbOrTransaction } from './database.js'
import type { WebhookEventRow, WebhookEventStatus } from './schema.js'

// The webhook outbox. Events are inserted in the caller's transaction, claimed with a lease by
// whichever instance's dispatcher asks first, and marked with the outcome of each attempt.

export interface NewWebhookEvent {
  msgId: string
  type: string
  userId: number | null
  payload: string
  createdAt: number
}

export async function insertWebhookEvent (db: DbOrTransaction, event: NewWebhookEvent): Promise<void> {
  await db.insertInto('webhook_events').values({
    msg_id: event.msgId,
    type: event.type,
    user_id: event.userId,
    payload: event.payload,
    status: 'pending',
    next_attempt_at: event.createdAt,
    created_at: event.createdAt
  }).execute()
}

/**
 * Whether any event may be due: a read, so an idle dispatcher polls without taking SQLite's
 * write lock or writing on PostgreSQL. Only a hint: the claim below decides.
 */
export async function anyEventDue (db: DbOrTransaction, now: number): Promise<boolean> {
  const row = await db.selectFrom('webhook_events').select('id')
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}

/**
 * Takes up to `limit` due events for one attempt, in one statement: each gets a lease until
 * `leaseUntil` and its attempt counted, so no other dispatcher takes it until the lease ends.
 * An event waits while an earlier event of the same user is pending (order per user).
 * PostgreSQL: `FOR UPDATE SKIP LOCKED`, so instances claiming at once take different rows and
 * never wait for each other. SQLite has a single writer: the one statement is enough.
 */
export async function claimDueEvents (db: DbOrTransaction, now: number, leaseUntil: number, limit: number): Promise<WebhookEventRow[]> {
  const skipLocked = isPostgres(db) ? sql`for update skip locked` : sql``
  const result = await sql<WebhookEventRow>`
    update webhook_events set lease_until = ${leaseUntil}, attempts = attempts + 1
    where id in (
      select e.id from webhook_events e
      where e.status = 'pending' and e.next_attempt_at <= ${now}
        and (e.lease_until is null or e.lease_until <= ${now})
        and not exists (
          select 1 from webhook_events earlier
          where earlier.user_id = e.user_id and earlier.id < e.id and earlier.status = 'pending'
        )
      order by e.id
      limit ${limit}
      ${skipLocked}
    )
    and status = 'pending' and (lease_until is null or lease_until <= ${now})
    returning *`.execute(db)
  return result.rows.map(row => ({ ...row, id: Number(row.id), user_id: row.user_id === null ? null : Number(row.user_id) }))
}

export interface AttemptOutcome {
  /** The receiver's HTTP status, when it answered. */
  status: number | null
  error: string | null
  /** When to try again; undefined: no more tries (delivered, or failed for good). */
  nextAttemptAt: number | undefined
  delivered: boolean
}

/**
 * Records an attempt's outcome. The attempt number fences it: if the lease ran out and another
 * dispatcher took the event since, this one's outcome is not written (false).
 */
export async function recordAttempt (db: DbOrTransaction, id: number, attempt: number, outcome: AttemptOutcome, now: number): Promise<boolean> {
  const status: WebhookEventStatus = outcome.delivered ? 'delivered' : outcome.nextAttemptAt === undefined ? 'failed' : 'pending'
  const row = await db.updateTable('webhook_events')
    .set({
      status,
      lease_until: null,
      last_status: outcome.status,
      last_error: outcome.error?.slice(0, 300) ?? null,
      next_attempt_at: outcome.nextAttemptAt ?? now,
      finished_at: status === 'pending' ? null : now
    })
    .where('id', '=', id)
    .where('attempts', '=', attempt)
    .where('status', '=', 'pending')
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

export interface Backlog {
  pending: number
  failed: number
  /** created_at of the oldest pending event, or null when none is pending. */
  oldestPendingAt: number | null
}

export async function readBacklog (db: DbOrTransaction): Promise<Backlog> {
  const rows = await db.selectFrom('webhook_events')
    .select(eb => ['status', eb.fn.countAll<number>().as('n'), eb.fn.min('created_at').as('oldest')])
    .where('status', 'in', ['pending', 'failed'])
    .groupBy('status')
    .execute()
  const pending = rows.find(row => row.status === 'pending')
  const failed = rows.find(row => row.status === 'failed')
  return {
    pending: Number(pending?.n ?? 0),
    failed: Number(failed?.n ?? 0),
    oldestPendingAt: pending?.oldest === undefined || pending.oldest === null ? null : Number(pending.oldest)
  }
}
