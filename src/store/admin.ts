import type { DbOrTransaction } from './database.js'
import type { AdminAuditRow, AuditActorKind, UserRow } from './schema.js'

// Queries of the admin face (services/admin-service.ts): finding people, their invitees and
// events, and the audit log. Lists are newest first and paged by keyset (`beforeId`): rows are
// added at the top all the time (sign-ups, entries), which would shift an offset's pages and
// show a row twice; and a keyset page costs one index seek however deep it is.

export interface NewAuditEntry {
  at: number
  actorKind: AuditActorKind
  actor: string
  action: string
  targetUserId: number | null
  targetPhone: string | null
  /** Already JSON. */
  details: string
  ip: string | null
  requestId: string | null
  serverRequestId: string | null
}

export async function insertAuditEntry (db: DbOrTransaction, entry: NewAuditEntry): Promise<number> {
  const row = await db.insertInto('admin_audit').values({
    at: entry.at,
    actor_kind: entry.actorKind,
    actor: entry.actor,
    action: entry.action,
    target_user_id: entry.targetUserId,
    target_phone: entry.targetPhone,
    details: entry.details,
    ip: entry.ip,
    request_id: entry.requestId,
    server_request_id: entry.serverRequestId
  }).returning('id').executeTakeFirstOrThrow()
  return Number(row.id)
}

export interface AuditFilter {
  targetUserId?: number | undefined
  targetPhone?: string | undefined
  /** Entries with a smaller id only: the cursor of the page before. */
  beforeId?: number | undefined
  /** Leave out reads (actions named `read.…`): an account's page lists what was done to it. */
  actionsOnly?: boolean | undefined
  limit: number
}

/** Newest first. */
export async function listAuditEntries (db: DbOrTransaction, filter: AuditFilter): Promise<AdminAuditRow[]> {
  let query = db.selectFrom('admin_audit').selectAll()
  if (filter.targetUserId !== undefined) query = query.where('target_user_id', '=', filter.targetUserId)
  if (filter.targetPhone !== undefined) query = query.where('target_phone', '=', filter.targetPhone)
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId)
  if (filter.actionsOnly === true) query = query.where('action', 'not like', 'read.%')
  const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute()
  return rows.map(row => ({ ...row, id: Number(row.id), at: Number(row.at), target_user_id: row.target_user_id === null ? null : Number(row.target_user_id) }))
}

export interface UserFilter {
  /** E.164, exact. */
  phone?: string | undefined
  /** Normalised, exact: the user's own code. */
  inviteCode?: string | undefined
  beforeId?: number | undefined
  limit: number
}

/** Accounts (not tombstones of deleted ones), newest first. Phone and invite code are unique, so a filter finds at most one. */
export async function listUsers (db: DbOrTransaction, filter: UserFilter): Promise<UserRow[]> {
  let query = db.selectFrom('users').selectAll().where('deleted_at', 'is', null)
  if (filter.phone !== undefined) query = query.where('phone', '=', filter.phone)
  if (filter.inviteCode !== undefined) query = query.where('invite_code', '=', filter.inviteCode)
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId)
  return await query.orderBy('id', 'desc').limit(filter.limit).execute()
}

export interface InviteeRow {
  id: number
  phone: string
  invited_at: number | null
}

/** Who joined with the user's code, newest first, at most `limit`. */
export async function listInvitees (db: DbOrTransaction, userId: number, limit: number): Promise<InviteeRow[]> {
  const rows = await db.selectFrom('users').select(['id', 'phone', 'invited_at'])
    .where('invited_by', '=', userId)
    .orderBy('invited_at', 'desc').orderBy('id', 'desc')
    .limit(limit)
    .execute()
  return rows.map(row => ({ ...row, id: Number(row.id) }))
}

export interface UserEventRow {
  id: number
  type: string
  status: string
  attempts: number
  created_at: number
  last_error: string | null
}

/** The user's webhook events still in the outbox, newest first (delivered ones are pruned after WEBHOOK_RETENTION_DAYS). */
export async function listRecentUserEvents (db: DbOrTransaction, userId: number, limit: number): Promise<UserEventRow[]> {
  const rows = await db.selectFrom('webhook_events').select(['id', 'type', 'status', 'attempts', 'created_at', 'last_error'])
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute()
  return rows.map(row => ({ ...row, id: Number(row.id), created_at: Number(row.created_at) }))
}
