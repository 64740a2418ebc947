import { DomainError } from '../domain/errors.js'
import { normalizePhone } from '../domain/phone.js'
import {
  deleteSendCounters, findLoginCodeState, listInviteTree, listLimitCounters, listUndeliveredEvents, listUserSessions,
  resendFailedEvents, type InviteTreeRow, type LimitCounterRow, type WebhookEventState
} from '../store/operator.js'
import type { UserRow, WebhookEventStatus } from '../store/schema.js'
import { revokeUserSession, revokeUserSessions } from '../store/sessions.js'
import { blockUser as blockUserRow, findProfile, findUserById, findUserByPhone, lockLiveUser, unblockUser as unblockUserRow } from '../store/users.js'
import type { Config } from '../config.js'
import type { Db, DbOrTransaction } from '../store/database.js'
import type { ProfileRow } from '../store/users.js'
import { createAccountDeletion } from './account-deletion.js'
import { readAuditEntries, recordAdminAction, type AdminCaller, type AuditEntry } from './audit.js'
import type { Clock } from './clock.js'
import { deriveKeys, sessionForLog } from './keys.js'
import { createSigningKeys, type KeyInfo, type KeyLogger } from './signing-keys.js'
import { createEventRecorder } from './webhooks.js'

/** Whom an action is for: a phone as typed (the CLI), or the account's id (the admin API and pages). */
export type UserRef = string | { id: number }

export interface SessionState {
  id: string
  kind: string
  state: 'live' | 'revoked' | 'expired'
  createdAt: number
  lastSeenAt: number
  expiresAt: number
  userAgent: string | null
  ip: string | null
}

export interface UserState {
  profile: ProfileRow
  createdAt: number
  sessions: SessionState[]
  loginCode: { attempts: number, createdAt: number, expiresAt: number, state: 'live' | 'expired' | 'spent' } | undefined
  limits: LimitCounterRow[]
  /** Set while an operator's block stands. */
  blocked: { at: number, reason: string | null } | null
}

export interface BlockResult {
  phone: string
  /** False when the account was already in the state asked for: nothing was done. */
  changed: boolean
  /** Sessions the block ended. */
  revoked: number
}

export const blockReasonMaxLength = 500
export const auditPageDefaultLimit = 50
export const auditPageMaxLimit = 1000
/** Reasons given with the other actions (kept in the audit log only) are bounded alike. */
export const reasonMaxLength = blockReasonMaxLength

export interface SessionsResult {
  phone: string
  /** Sessions this call ended (0 when the one named had ended already). */
  revoked: number
}

export interface LimitsResult {
  phone: string
  /** Counters deleted. */
  deleted: number
}

export interface DeleteResult {
  userId: number
  /** The phone the account had. */
  phone: string
}

export interface InviteNode {
  phone: string
  invitedAt: number | null
  invited: InviteNode[]
}

/**
 * What an operator does to help a person: look, sign them out, block, delete, lift their
 * limits; and the token-signing keys. Every action on a person takes who acts (`by`) and is
 * written to the audit log in its own transaction. Three faces call it: the CLI (by phone),
 * and, through admin-service.ts, the admin API and pages (by id).
 */
export function createOperatorService ({ db, config, clock, logger }: { db: Db, config: Config, clock: Clock, logger?: KeyLogger }) {
  const quiet = { info: () => {}, warn: () => {}, error: () => {} }
  const keys = deriveKeys(config.secrets)
  const signingKeys = createSigningKeys(
    { db, clock, keys, logger: logger ?? quiet },
    { ...config.jwt, accessTokenTtlSeconds: config.accessTokenTtlSeconds }
  )
  const events = createEventRecorder({ config, clock })
  const accountDeletion = createAccountDeletion({ config, clock, keys })
  function normalize (rawPhone: string): string {
    return normalizePhone(rawPhone, {
      defaultCountry: config.phoneDefaultCountry,
      isTestNumber: phone => config.testPhoneNumbers.has(phone)
    })
  }

  /** A live account (not a deleted one's tombstone), else user_not_found. */
  async function requireUser (who: UserRef): Promise<UserRow> {
    const user = typeof who === 'string' ? await findUserByPhone(db, normalize(who)) : await findUserById(db, who.id)
    if (user === undefined || user.deleted_at !== null) throw new DomainError('user_not_found', { field: typeof who === 'string' ? 'phone' : 'id' })
    return user
  }

  /** The optional reason given with an action: trimmed, bounded; none when blank. */
  function optionalReason (reason: string | undefined): string | undefined {
    const trimmed = reason?.trim() ?? ''
    if (trimmed.length > reasonMaxLength) throw new DomainError('reason_invalid', { field: 'reason' })
    return trimmed === '' ? undefined : trimmed
  }

  /**
   * An action on one account, in one transaction with its audit entry. The user's row is locked
   * first (lockLiveUser), so actions on one account run one after another, each seeing the one
   * before; an account deleted meanwhile is user_not_found, and nothing is written.
   */
  async function actOnUser<T> (user: UserRow, act: (trx: DbOrTransaction, current: UserRow, now: number) => Promise<T>): Promise<T> {
    const now = clock.now()
    return await db.transaction().execute(async (trx) => {
      const current = await lockLiveUser(trx, user.id)
      if (current === undefined) throw new DomainError('user_not_found', { field: 'id' })
      return await act(trx, current, now)
    })
  }

  async function showUser (who: UserRef): Promise<UserState> {
    const user = await requireUser(who)
    const now = clock.now()
    const profile = await findProfile(db, user.id, config.profileInvitedLimit)
    if (profile === undefined) throw new DomainError('user_not_found', { field: typeof who === 'string' ? 'phone' : 'id' })
    const sessions = (await listUserSessions(db, user.id)).map((session): SessionState => ({
      id: session.id,
      kind: session.kind,
      state: session.revoked_at !== null ? 'revoked' : session.expires_at <= now ? 'expired' : 'live',
      createdAt: session.created_at,
      lastSeenAt: session.last_seen_at,
      expiresAt: session.expires_at,
      userAgent: session.user_agent,
      ip: session.ip
    }))
    const code = await findLoginCodeState(db, user.phone)
    return {
      profile,
      createdAt: user.created_at,
      sessions,
      loginCode: code === undefined
        ? undefined
        : { attempts: code.attempts, createdAt: code.created_at, expiresAt: code.expires_at, state: code.spent_at !== null ? 'spent' : code.expires_at > now ? 'live' : 'expired' },
      limits: await listLimitCounters(db, user.phone),
      blocked: user.blocked_at === null ? null : { at: user.blocked_at, reason: user.blocked_reason }
    }
  }

  /** Revokes every live session: browsers and apps must sign in again. */
  async function signOutUser (who: UserRef, by: AdminCaller, reason?: string): Promise<SessionsResult> {
    const given = optionalReason(reason)
    const user = await requireUser(who)
    return await actOnUser(user, async (trx, current, now) => {
      const revoked = await revokeUserSessions(trx, current.id, now)
      await recordAdminAction(trx, now, by, 'sessions.revoke_all', { userId: current.id, phone: current.phone }, { reason: given, revoked })
      return { phone: current.phone, revoked }
    })
  }

  /** Revokes one session of the user's; session_not_found when the user has none with this id. */
  async function revokeSession (who: UserRef, sessionId: string, by: AdminCaller, reason?: string): Promise<SessionsResult> {
    const given = optionalReason(reason)
    const user = await requireUser(who)
    return await actOnUser(user, async (trx, current, now) => {
      const outcome = await revokeUserSession(trx, current.id, sessionId, now)
      if (outcome === 'none') throw new DomainError('session_not_found', { field: 'session_id' })
      const revoked = outcome === 'revoked' ? 1 : 0
      // The id's first characters, as log lines name sessions: enough to find it, not the id itself.
      await recordAdminAction(trx, now, by, 'session.revoke', { userId: current.id, phone: current.phone }, { reason: given, session: sessionForLog(sessionId), revoked })
      return { phone: current.phone, revoked }
    })
  }

  /**
   * Stops an abusive account: no sign-in (403 account_blocked, told only to whoever enters a
   * right code) and every session ended, in one transaction with the user.blocked event and
   * the audit entry. Blocking a blocked account changes nothing (changed: false) and is logged.
   */
  async function blockUser (who: UserRef, reason: string, by: AdminCaller): Promise<BlockResult> {
    const trimmed = reason.trim()
    if (trimmed === '' || trimmed.length > blockReasonMaxLength) throw new DomainError('reason_invalid', { field: 'reason' })
    const user = await requireUser(who)
    return await actOnUser(user, async (trx, current, now) => {
      const changed = await blockUserRow(trx, current.id, trimmed, now)
      const revoked = changed ? await revokeUserSessions(trx, current.id, now) : 0
      if (changed) await events.record(trx, 'user.blocked', { id: current.id, phone: current.phone })
      await recordAdminAction(trx, now, by, 'user.block', { userId: current.id, phone: current.phone }, { reason: trimmed, changed, revoked })
      return { phone: current.phone, changed, revoked }
    })
  }

  /** Lifts a block: the person may sign in again (their old sessions stay ended). */
  async function unblockUser (who: UserRef, by: AdminCaller, reason?: string): Promise<BlockResult> {
    const given = optionalReason(reason)
    const user = await requireUser(who)
    return await actOnUser(user, async (trx, current, now) => {
      const changed = await unblockUserRow(trx, current.id)
      if (changed) await events.record(trx, 'user.unblocked', { id: current.id, phone: current.phone })
      await recordAdminAction(trx, now, by, 'user.unblock', { userId: current.id, phone: current.phone }, { reason: given, changed, blockedReason: current.blocked_reason ?? undefined })
      return { phone: current.phone, changed, revoked: 0 }
    })
  }

  /**
   * Deletes the account as the person's own deletion does (account-deletion.ts: tombstone,
   * sessions, login code, user.deleted), with the audit entry, in one transaction. Of deletions
   * at the same moment one wins; the others find no account (user_not_found) and log nothing.
   */
  async function deleteUser (who: UserRef, by: AdminCaller, reason?: string): Promise<DeleteResult> {
    const given = optionalReason(reason)
    const user = await requireUser(who)
    const now = clock.now()
    return await db.transaction().execute(async (trx) => {
      // Not lockLiveUser first: the deletion takes the referral graph's lock before the row, as
      // the person's own deletion and an activation do, so the locks are always taken in one order.
      const erased = await accountDeletion.eraseAccount(trx, user.id, now)
      if (erased === undefined) throw new DomainError('user_not_found', { field: 'id' })
      await recordAdminAction(trx, now, by, 'user.delete', { userId: erased.id, phone: erased.phone }, { reason: given })
      return { userId: erased.id, phone: erased.phone }
    })
  }

  /**
   * Deletes the send quotas of the phone (how many codes it may be sent), never its wrong-code
   * budgets: no admin may give anyone more guesses at a code than the person had. A phone as
   * typed works without an account too: limits are counted before sign-up.
   */
  async function clearLimits (who: UserRef, by: AdminCaller, reason?: string): Promise<LimitsResult> {
    const given = optionalReason(reason)
    if (typeof who !== 'string') {
      return await actOnUser(await requireUser(who), async (trx, current, now) => {
        const deleted = await deleteSendCounters(trx, current.phone)
        await recordAdminAction(trx, now, by, 'limits.clear', { userId: current.id, phone: current.phone }, { reason: given, deleted })
        return { phone: current.phone, deleted }
      })
    }
    const phone = normalize(who)
    const now = clock.now()
    return await db.transaction().execute(async (trx) => {
      const user = await findUserByPhone(trx, phone)
      const deleted = await deleteSendCounters(trx, phone)
      await recordAdminAction(trx, now, by, 'limits.clear', { userId: user?.id ?? null, phone }, { reason: given, deleted })
      return { phone, deleted }
    })
  }

  async function inviteTree (who: UserRef): Promise<InviteNode> {
    const user = await requireUser(who)
    const rows = await listInviteTree(db, user.id)
    const nodes = new Map<number, InviteNode>()
    for (const row of rows) nodes.set(row.id, { phone: row.phone, invitedAt: row.invited_at, invited: [] })
    for (const row of rows as InviteTreeRow[]) {
      if (row.depth > 0 && row.invited_by !== null) nodes.get(row.invited_by)?.invited.push(nodes.get(row.id) as InviteNode)
    }
    return nodes.get(user.id) as InviteNode
  }

  /** The keys and their states, as the instances see them (none made yet: the first start makes one). */
  async function listKeys (): Promise<KeyInfo[]> {
    await signingKeys.read()
    return signingKeys.list()
  }

  /** A new key, published now, signing after JWT_KEY_PUBLISH_LEAD_SECONDS; the old one retires when its tokens have expired. */
  async function rotateKeys (): Promise<{ rotated: boolean, reason?: string, keys: KeyInfo[] }> {
    const result = await signingKeys.rotate()
    return { ...result, keys: signingKeys.list() }
  }

  /** The operator's own private key (PEM), scheduled as a rotation. */
  async function importKey (pem: string): Promise<{ rotated: boolean, reason?: string, keys: KeyInfo[] }> {
    const result = await signingKeys.importKey(pem)
    return { ...result, keys: signingKeys.list() }
  }

  /** A leaked key: out of the set and refused at once; if it was signing, a new key signs from now. */
  async function revokeKey (kid: string): Promise<{ kid: string, keys: KeyInfo[] }> {
    if (!await signingKeys.revoke(kid)) throw new DomainError('not_found', { field: 'kid' })
    return { kid, keys: signingKeys.list() }
  }


  /**
   * Audit entries, newest first, `limit` at a time (at most auditPageMaxLimit); `beforeId` is
   * the last id of the page before. Filtered by the account (id) or the phone it had.
   */
  async function listAudit (filter: { user?: UserRef, beforeId?: number, limit?: number, actionsOnly?: boolean } = {}): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(1, filter.limit ?? auditPageDefaultLimit), auditPageMaxLimit)
    const target = filter.user === undefined ? {} : typeof filter.user === 'string' ? { targetPhone: normalize(filter.user) } : { targetUserId: filter.user.id }
    return await readAuditEntries(db, { ...target, beforeId: filter.beforeId, actionsOnly: filter.actionsOnly, limit })
  }

  /** Webhook events not delivered yet (pending) or given up (failed), oldest first. */
  async function listWebhookEvents (statuses: readonly WebhookEventStatus[] = ['pending', 'failed'], limit = 1000): Promise<WebhookEventState[]> {
    return await listUndeliveredEvents(db, statuses, limit)
  }

  /** Sends failed events again (all, or one by its webhook-id): due now, a fresh retry schedule, the same webhook-id. */
  async function resendWebhookEvents (webhookId?: string): Promise<{ resent: number }> {
    const resent = await resendFailedEvents(db, clock.now(), webhookId)
    if (webhookId !== undefined && resent === 0) throw new DomainError('not_found')
    return { resent }
  }

  return {
    normalizePhone: normalize, requireUser, optionalReason, showUser, signOutUser, revokeSession, blockUser, unblockUser, deleteUser, clearLimits, inviteTree, listAudit,
    listKeys, rotateKeys, importKey, revokeKey, listWebhookEvents, resendWebhookEvents
  }
}

export type OperatorService = ReturnType<typeof createOperatorService>
