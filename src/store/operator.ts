import { sql } from 'kysely'
import type { DbOrTransaction } from './database.js'
import type { LoginCodeRow, SessionRow, WebhookEventRow, WebhookEventStatus } from './schema.js'

// Queries only the operator CLI needs: reading a user's whole state and clearing it.

export async function listUserSessions (db: DbOrTransaction, userId: number): Promise<SessionRow[]> {
  return await db.selectFrom('sessions').selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .execute()
}

export interface LimitCounterRow {
  key: string
  window_start: number
  count: number
  expires_at: number
}

/**
 * Limit keys are written by the limits service as segments joined by ":" with the phone as
 * one whole segment (e.g. "send:phone:+79123456789"). Matching whole segments keeps
 * "+7912345678" from matching "+79123456789".
 */
function mentionsPhone (phone: string) {
  return sql<boolean>`(key = ${phone} or key like ${phone + ':%'} or key like ${'%:' + phone} or key like ${'%:' + phone + ':%'})`
}

export async function listLimitCounters (db: DbOrTransaction, phone: string): Promise<LimitCounterRow[]> {
  return await db.selectFrom('limit_counters').selectAll()
    .where(mentionsPhone(phone))
    .orderBy('key').orderBy('window_start')
    .execute()
}

/**
 * Deletes the phone's send quotas (`code:…` keys) only. Its wrong-code budgets (`wrong:…`) and
 * device identities (`device:new:…`) stay: clearing them would give whoever asks a clear more
 * guesses at a code than the person had (issue 22).
 */
export async function deleteSendCounters (db: DbOrTransaction, phone: string): Promise<number> {
  const result = await db.deleteFrom('limit_counters').where('key', 'like', 'code:%').where(mentionsPhone(phone)).executeTakeFirst()
  return Number(result.numDeletedRows)
}

export async function findLoginCodeState (db: DbOrTransaction, phone: string): Promise<Omit<LoginCodeRow, 'code_hash' | 'send_id' | 'undelivered_by'> | undefined> {
  return await db.selectFrom('login_codes')
    .select(['phone', 'attempts', 'created_at', 'expires_at', 'ip', 'spent_at'])
    .where('phone', '=', phone)
    .executeTakeFirst()
}

export interface InviteTreeRow {
  id: number
  phone: string
  invited_by: number | null
  invited_at: number | null
  depth: number
}

/** The user and everyone below them in the referral forest, parents before children. */
export async function listInviteTree (db: DbOrTransaction, rootId: number): Promise<InviteTreeRow[]> {
  const result = await sql<InviteTreeRow>`
    with recursive tree(id, phone, invited_by, invited_at, depth) as (
      select id, phone, invited_by, invited_at, 0 from users where id = ${rootId}
      union all
      select users.id, users.phone, users.invited_by, users.invited_at, tree.depth + 1
      from users join tree on users.invited_by = tree.id
      where tree.depth < 100000
    )
    select id, phone, invited_by, invited_at, depth from tree order by depth, invited_at, id
  `.execute(db)
  return result.rows.map(row => ({ ...row, id: Number(row.id), invited_by: row.invited_by === null ? null : Number(row.invited_by), depth: Number(row.depth) }))
}

export type WebhookEventState = Omit<WebhookEventRow, 'payload' | 'lease_until'>

/** Events not delivered (pending or failed), oldest first, at most `limit`. */
export async function listUndeliveredEvents (db: DbOrTransaction, statuses: readonly WebhookEventStatus[], limit: number): Promise<WebhookEventState[]> {
  const rows = await db.selectFrom('webhook_events')
    .select(['id', 'msg_id', 'type', 'user_id', 'status', 'attempts', 'next_attempt_at', 'last_status', 'last_error', 'created_at', 'finished_at'])
    .where('status', 'in', [...statuses])
    .orderBy('id')
    .limit(limit)
    .execute()
  return rows.map(row => ({ ...row, id: Number(row.id), user_id: row.user_id === null ? null : Number(row.user_id) }))
}

/** Failed events (all, or the one with this webhook-id) become pending, due now, with a fresh schedule. */
export async function resendFailedEvents (db: DbOrTransaction, now: number, msgId?: string): Promise<number> {
  let query = db.updateTable('webhook_events')
    .set({ status: 'pending', attempts: 0, next_attempt_at: now, lease_until: null, finished_at: null })
    .where('status', '=', 'failed')
  if (msgId !== undefined) query = query.where('msg_id', '=', msgId)
  const result = await query.executeTakeFirst()
  return Number(result.numUpdatedRows)
}
