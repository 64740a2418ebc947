import { insertAuditEntry, listAuditEntries, type AuditFilter } from '../store/admin.js'
import type { DbOrTransaction } from '../store/database.js'
import type { AuditActorKind } from '../store/schema.js'

// The audit log of admin actions: one entry per action, written in the action's own
// transaction, so an action is logged exactly when it was committed.

export type ActorKind = AuditActorKind

/**
 * Who acts: an admin API key by its name (`key`), an admin signed in to the pages by their
 * phone (`phone`, E.164), or the operator CLI by the OS user running it (`cli`). Never a secret.
 */
export interface Actor {
  kind: ActorKind
  name: string
}

/** Who acts, and from where: what every admin action is given and the audit log keeps. */
export interface AdminCaller {
  actor: Actor
  /** The client's address (null from the CLI). */
  ip: string | null
  /** The request's id, as in the request log line (null from the CLI): the caller's X-Request-Id when it sent one. */
  requestId: string | null
  /** The server's own id of the request (serverRequestIdOf), whatever the caller sent; none from the CLI. */
  serverRequestId?: string | null
}

export const auditActions = ['session.revoke', 'sessions.revoke_all', 'user.block', 'user.unblock', 'user.delete', 'limits.clear', 'fraud.allow', 'fraud.block', 'fraud.clear', 'passkey.remove'] as const
export type AuditAction = typeof auditActions[number]

/**
 * Reads by the admin API and pages (issue 22): one entry per read, naming what was asked for
 * and whom, never what was shown. `read.` before each, so a filter can tell them from actions.
 */
export const auditReads = ['read.users', 'read.user', 'read.limits', 'read.audit', 'read.fraud'] as const
export type AuditRead = typeof auditReads[number]

export interface AuditTarget {
  userId: number | null
  phone: string | null
}

export interface AuditEntry {
  id: number
  at: number
  actor: Actor
  action: string
  target: AuditTarget
  details: Record<string, unknown>
  ip: string | null
  requestId: string | null
  serverRequestId: string | null
}

/** Writes the entry in the caller's transaction (the action's). */
export async function recordAdminAction (trx: DbOrTransaction, now: number, by: AdminCaller, action: AuditAction | AuditRead, target: AuditTarget, details: Record<string, unknown>): Promise<void> {
  await insertAuditEntry(trx, {
    at: now,
    actorKind: by.actor.kind,
    actor: by.actor.name.slice(0, 64),
    action,
    targetUserId: target.userId,
    targetPhone: target.phone,
    details: JSON.stringify(details),
    ip: by.ip?.slice(0, 64) ?? null,
    requestId: by.requestId?.slice(0, 64) ?? null,
    serverRequestId: by.serverRequestId?.slice(0, 64) ?? null
  })
}

function parseDetails (text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : { value }
  } catch {
    return { text }
  }
}

/** Entries newest first; `beforeId` is the id of the last entry of the page before. */
export async function readAuditEntries (db: DbOrTransaction, filter: AuditFilter): Promise<AuditEntry[]> {
  const rows = await listAuditEntries(db, filter)
  return rows.map(row => ({
    id: row.id,
    at: row.at,
    actor: { kind: row.actor_kind, name: row.actor },
    action: row.action,
    target: { userId: row.target_user_id, phone: row.target_phone },
    details: parseDetails(row.details),
    ip: row.ip,
    requestId: row.request_id,
    serverRequestId: row.server_request_id
  }))
}
