/**
 * The admin face's service: what support staff and other backends may see and do about a
 * person. The JSON API (http/api/admin-routes.ts) and the admin pages call these same
 * functions; neither face holds a rule of its own.
 *
 * How a face calls it:
 * - Reads take who reads first, as actions do: `findUsers(by, { phone })`, `showUser(by, userId)`,
 *   `listAudit(by, { userId })`, `phoneLimits(by, phone)`; each writes one audit entry (`read.…`)
 *   naming what was asked for and whom, never what was shown, once the read is done (issue 22).
 *   `smsSpend()` (counts about no one) is not audited.
 * - Every action takes who acts first, an `AdminCaller`:
 *     { actor: { kind: 'phone', name: <the admin's phone, E.164> }, ip: clientIp(request), requestId: request.id }
 *   from the pages (actorForUser(session's userId) gives the actor, or undefined when the phone
 *   is not, or no longer, in ADMIN_PHONES: then the page answers as an unknown path), and
 *     { actor: { kind: 'key', name: <the key's name> }, ip, requestId }
 *   from the API (authenticateKey gives the actor). Each action is done and written to the audit
 *   log in one transaction; it throws a DomainError (user_not_found, session_not_found,
 *   reason_invalid, phone_invalid, ...) that both faces map as any other.
 * - Users are named by id: a phone may move to another account between a look-up and an action.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import { normalizeInviteCode } from '../domain/codes.js'
import { listInvitees, listRecentUserEvents, listUsers } from '../store/admin.js'
import { listLimitCounters } from '../store/operator.js'
import { findLiveSession, listLiveSessions, revokeUserSessions } from '../store/sessions.js'
import { findUserById, findUserByPhone } from '../store/users.js'
import { deletePasskey, listUserPasskeys } from '../store/passkeys.js'
import { DomainError } from '../domain/errors.js'
import type { UserRow } from '../store/schema.js'
import { recordAdminAction, type Actor, type AdminCaller, type AuditEntry, type AuditRead, type AuditTarget } from './audit.js'
import type { ServiceContext } from './context.js'
import { createLimits, type SmsSpend } from './limits.js'
import { toPasskey, type Passkey } from './passkey-service.js'
import { createEventRecorder } from './webhooks.js'
import { createOperatorService, type BlockResult, type DeleteResult, type LimitsResult, type SessionsResult, type UserState } from './operator-service.js'

export type { Actor, AdminCaller, AuditEntry } from './audit.js'
export type { BlockResult, DeleteResult, LimitsResult, SessionsResult } from './operator-service.js'
export type { SmsSpend } from './limits.js'

/** One account in a list; times are epoch milliseconds. */
export interface AdminUserSummary {
  id: number
  phone: string
  inviteCode: string
  createdAt: number
  blockedAt: number | null
  invitedById: number | null
}

/** A page of a list, newest first; nextCursor goes back as `cursor` for the next page (null: none). */
export interface UserPage {
  users: AdminUserSummary[]
  nextCursor: number | null
}

export interface AuditPage {
  entries: AuditEntry[]
  nextCursor: number | null
}

export interface FindUsersQuery {
  /** As typed; normalised like any phone (phone_invalid when it is none). */
  phone?: string | undefined
  /** The user's own code, case and dashes as typed (invite_code_invalid when malformed). */
  inviteCode?: string | undefined
  cursor?: number | undefined
  limit?: number | undefined
}

export interface AuditQuery {
  userId?: number | undefined
  /** The phone the target had, as typed. */
  phone?: string | undefined
  cursor?: number | undefined
  limit?: number | undefined
}

export interface AdminSession {
  /** The whole id: what revokeSession takes. An id alone signs no one in (cookies are encrypted, tokens signed). */
  id: string
  kind: string
  createdAt: number
  lastSeenAt: number
  expiresAt: number
  ip: string | null
  userAgent: string | null
}

export interface AdminLimitCounter {
  key: string
  windowStart: number
  count: number
  expiresAt: number
}

/** Everything support needs about one account on one screen. */
export interface AdminUserView {
  id: number
  phone: string
  inviteCode: string
  createdAt: number
  blocked: { at: number, reason: string | null } | null
  /** Whose code this account activated; phone null when that account was deleted. */
  inviter: { id: number, phone: string | null, inviteCode: string, invitedAt: number | null } | null
  /** Who joined with this account's code: how many, and the latest of them. */
  invitees: { count: number, latest: Array<{ id: number, phone: string, invitedAt: number | null }> }
  /** Live sessions only, most recently seen first. */
  sessions: AdminSession[]
  /** The account's passkeys, oldest first: name, times, device type, backup flag; never the public key. */
  passkeys: Passkey[]
  loginCode: UserState['loginCode']
  /** The limit counters whose key names this phone (sends, wrong codes, device budgets). */
  limits: AdminLimitCounter[]
  /** Webhook events about the account still in the outbox, newest first. */
  events: Array<{ type: string, status: string, attempts: number, createdAt: number, lastError: string | null }>
  /** The latest audit entries about the account, newest first. */
  audit: AuditEntry[]
}

export interface PhoneLimits {
  phone: string
  /** The account with this phone, if any: limits are counted before sign-up too. */
  userId: number | null
  limits: AdminLimitCounter[]
}

export const userPageDefaultLimit = 50
export const userPageMaxLimit = 200
export const auditPageDefaultLimitForAdmin = 50
export const auditPageMaxLimitForAdmin = 200
const recentCount = 20

function digest (text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

function pageSize (limit: number | undefined, fallback: number, max: number): number {
  return Math.min(Math.max(1, Math.floor(limit ?? fallback)), max)
}

function summarise (user: UserRow): AdminUserSummary {
  return { id: user.id, phone: user.phone, inviteCode: user.invite_code, createdAt: user.created_at, blockedAt: user.blocked_at, invitedById: user.invited_by }
}

function toCounter (row: { key: string, window_start: number, count: number, expires_at: number }): AdminLimitCounter {
  return { key: row.key, windowStart: Number(row.window_start), count: Number(row.count), expiresAt: Number(row.expires_at) }
}

export function createAdminService (context: Pick<ServiceContext, 'db' | 'config' | 'clock' | 'logger'>) {
  const { db, config, clock, logger } = context
  const operator = createOperatorService({ db, config, clock, logger })
  const limits = createLimits(context)
  const events = createEventRecorder({ config, clock })
  // Digests of equal length, so timingSafeEqual compares every key whatever was presented.
  const keyDigests = config.adminKeys.map(key => ({ name: key.name, digest: digest(key.secret) }))

  /**
   * The key's actor when `presented` is one of PHONEPASS_ADMIN_KEYS, else undefined. Every key
   * is compared, in constant time, so the time taken tells neither whether nor which key matched.
   */
  function authenticateKey (presented: string): Actor | undefined {
    const presentedDigest = digest(presented)
    let name: string | undefined
    for (const key of keyDigests) {
      if (timingSafeEqual(presentedDigest, key.digest) && name === undefined) name = key.name
    }
    return name === undefined ? undefined : { kind: 'key', name }
  }

  /** The actor of an admin phone (E.164), or undefined when it is not in ADMIN_PHONES. */
  function actorForPhone (phone: string): Actor | undefined {
    return config.adminPhones.has(phone) ? { kind: 'phone', name: phone } : undefined
  }

  /**
   * The actor of a signed-in person whose phone is in ADMIN_PHONES now (read at every request,
   * so a phone taken off the list loses the pages with its session still live).
   */
  async function actorForUser (userId: number): Promise<Actor | undefined> {
    const user = await findUserById(db, userId)
    // A block ends the admin's sessions too; this holds even for a session that outlived it.
    if (user === undefined || user.deleted_at !== null || user.blocked_at !== null) return undefined
    return actorForPhone(user.phone)
  }

  /**
   * Whether the admin API and pages may be used from this client address (ADMIN_ALLOWED_NETWORKS;
   * none set: anywhere). Asked once the caller is known to be an admin: to anyone else the
   * admin faces stay an unknown path, wherever they come from.
   */
  function fromAllowedNetwork (ip: string): boolean {
    const allowed = config.adminAccess.allowedNetworks
    if (allowed === undefined) return true
    const family = isIP(ip)
    if (family === 0) return false
    try {
      return allowed.check(ip, family === 4 ? 'ipv4' : 'ipv6')
    } catch {
      return false
    }
  }

  /**
   * The pages' admin: the signed-in person's actor when their phone is in ADMIN_PHONES now, and
   * how their sign-in stands. `fresh`: signed in (the session created by a code) within
   * ADMIN_SESSION_HOURS, the pages' own limit, from the session row, whatever the session's
   * lifetime or the cookie's age; `provedAt`: when a code last proved this session's phone.
   */
  async function adminOfSession (sessionId: string, userId: number): Promise<{ actor: Actor, fresh: boolean, provedAt: number, passkeyProved: boolean } | undefined> {
    const actor = await actorForUser(userId)
    if (actor === undefined) return undefined
    const session = await findLiveSession(db, sessionId, clock.now())
    if (session === undefined || session.user_id !== userId) return undefined
    const createdAt = Number(session.created_at)
    // ADMIN_PASSKEY: a passkey proved this session (its sign-in, or after the code); else the pages ask for one.
    const passkeyProved = session.passkey_at !== null || config.passkeys?.adminRequired !== true
    return { actor, fresh: clock.now() - createdAt < config.adminAccess.sessionMs, provedAt: createdAt, passkeyProved }
  }

  function logAction (by: AdminCaller, action: string, userId: number | null): void {
    logger.info({ actor: `${by.actor.kind}:${by.actor.name}`, action, userId, requestId: by.requestId }, 'admin action')
  }

  /**
   * The audit entry of a read, written once the read is done (a refused read, such as an
   * unknown account, writes none): what was asked for, and whom, never what was shown.
   */
  async function recordRead (by: AdminCaller, read: AuditRead, target: AuditTarget, details: Record<string, unknown>): Promise<void> {
    await recordAdminAction(db, clock.now(), by, read, target, details)
  }

  /** Accounts, newest first; by phone or invite code (each finds at most one). */
  async function findUsers (by: AdminCaller, query: FindUsersQuery = {}): Promise<UserPage> {
    const limit = pageSize(query.limit, userPageDefaultLimit, userPageMaxLimit)
    const phone = query.phone === undefined ? undefined : operator.normalizePhone(query.phone)
    const inviteCode = query.inviteCode === undefined ? undefined : normalizeInviteCode(query.inviteCode)
    const rows = await listUsers(db, { phone, inviteCode, beforeId: query.cursor, limit: limit + 1 })
    const users = rows.slice(0, limit).map(summarise)
    const only = phone !== undefined || inviteCode !== undefined ? users[0] : undefined
    await recordRead(by, 'read.users', { userId: only?.id ?? null, phone: phone ?? only?.phone ?? null }, {
      ...(inviteCode === undefined ? {} : { inviteCode }),
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      shown: users.length
    })
    return { users, nextCursor: rows.length > limit ? users.at(-1)?.id ?? null : null }
  }

  async function showUser (by: AdminCaller, userId: number): Promise<AdminUserView> {
    const view = await readUser(userId)
    await recordRead(by, 'read.user', { userId: view.id, phone: view.phone }, {})
    return view
  }

  async function readUser (userId: number): Promise<AdminUserView> {
    const state = await operator.showUser({ id: userId })
    const user = await operator.requireUser({ id: userId })
    const inviter = user.invited_by === null ? undefined : await findUserById(db, user.invited_by)
    const now = clock.now()
    return {
      id: user.id,
      phone: user.phone,
      inviteCode: user.invite_code,
      createdAt: user.created_at,
      blocked: state.blocked,
      inviter: inviter === undefined
        ? null
        : { id: inviter.id, phone: inviter.deleted_at === null ? inviter.phone : null, inviteCode: inviter.invite_code, invitedAt: user.invited_at },
      invitees: {
        count: state.profile.invitedCount,
        latest: (await listInvitees(db, user.id, recentCount)).map(row => ({ id: row.id, phone: row.phone, invitedAt: row.invited_at }))
      },
      sessions: (await listLiveSessions(db, user.id, now)).map(session => ({
        id: session.id,
        kind: session.kind,
        createdAt: session.created_at,
        lastSeenAt: session.last_seen_at,
        expiresAt: session.expires_at,
        ip: session.ip,
        userAgent: session.user_agent
      })),
      passkeys: (await listUserPasskeys(db, user.id)).map(toPasskey),
      loginCode: state.loginCode,
      limits: state.limits.map(toCounter),
      events: (await listRecentUserEvents(db, user.id, recentCount)).map(row => ({
        type: row.type, status: row.status, attempts: row.attempts, createdAt: row.created_at, lastError: row.last_error
      })),
      // What was done to the account; who looked at it is in the log (listAudit).
      audit: await operator.listAudit({ user: { id: user.id }, limit: recentCount, actionsOnly: true })
    }
  }

  /** The limit counters of a phone, with or without an account. */
  async function phoneLimits (by: AdminCaller, rawPhone: string): Promise<PhoneLimits> {
    const phone = operator.normalizePhone(rawPhone)
    const user = await findUserByPhone(db, phone)
    const limits = (await listLimitCounters(db, phone)).map(toCounter)
    await recordRead(by, 'read.limits', { userId: user?.id ?? null, phone }, {})
    return { phone, userId: user?.id ?? null, limits }
  }

  /** Runs an action (the operator service audits it in its transaction), then logs it once done. */
  async function logged<Result> (by: AdminCaller, action: string, userId: number | null, done: Promise<Result>): Promise<Result> {
    const result = await done
    logAction(by, action, userId)
    return result
  }

  async function revokeSession (by: AdminCaller, userId: number, sessionId: string, reason?: string): Promise<SessionsResult> {
    return await logged(by, 'session.revoke', userId, operator.revokeSession({ id: userId }, sessionId, by, reason))
  }

  async function revokeAllSessions (by: AdminCaller, userId: number, reason?: string): Promise<SessionsResult> {
    return await logged(by, 'sessions.revoke_all', userId, operator.signOutUser({ id: userId }, by, reason))
  }

  async function blockUser (by: AdminCaller, userId: number, reason: string): Promise<BlockResult> {
    return await logged(by, 'user.block', userId, operator.blockUser({ id: userId }, reason, by))
  }

  async function unblockUser (by: AdminCaller, userId: number, reason?: string): Promise<BlockResult> {
    return await logged(by, 'user.unblock', userId, operator.unblockUser({ id: userId }, by, reason))
  }

  /** The person's own deletion's path (account-deletion.ts), as an admin: no code asked for. */
  async function deleteUser (by: AdminCaller, userId: number, reason?: string): Promise<DeleteResult> {
    return await logged(by, 'user.delete', userId, operator.deleteUser({ id: userId }, by, reason))
  }

  /** Clears the send and guess counters of the account's phone. */
  async function clearLimits (by: AdminCaller, userId: number, reason?: string): Promise<LimitsResult> {
    return await logged(by, 'limits.clear', userId, operator.clearLimits({ id: userId }, by, reason))
  }

  /** As clearLimits, for a phone that may have no account (a person who never got a first code). */
  async function clearPhoneLimits (by: AdminCaller, rawPhone: string, reason?: string): Promise<LimitsResult> {
    return await logged(by, 'limits.clear', null, operator.clearLimits(rawPhone, by, reason))
  }

  /**
   * Removes one of the account's passkeys (the id must be this account's: passkey_not_found
   * otherwise), recording passkey.removed (by: admin) and the audit entry in one transaction.
   * It only takes a way in away, with the sessions it signed in: the phone stays the way in.
   */
  async function removePasskey (by: AdminCaller, userId: number, passkeyId: string, reason?: string): Promise<{ removed: Passkey }> {
    const given = operator.optionalReason(reason)
    const user = await operator.requireUser({ id: userId })
    const removed = await db.transaction().execute(async (trx) => {
      const row = await deletePasskey(trx, passkeyId, user.id)
      if (row === undefined) throw new DomainError('passkey_not_found')
      const now = clock.now()
      await revokeUserSessions(trx, user.id, now, { passkeyId: row.id })
      await events.record(trx, 'passkey.removed', { id: user.id, phone: user.phone, passkey: { id: row.id, name: row.name }, by: 'admin' })
      await recordAdminAction(trx, now, by, 'passkey.remove', { userId: user.id, phone: user.phone }, { reason: given, passkey: { id: row.id, name: row.name } })
      return toPasskey(row)
    })
    logAction(by, 'passkey.remove', user.id)
    return { removed }
  }

  async function smsSpend (): Promise<SmsSpend> {
    return await limits.smsSpend()
  }

  /** Audit entries newest first; of one account (its id) or of the phone a target had. */
  async function listAudit (by: AdminCaller, query: AuditQuery = {}): Promise<AuditPage> {
    const limit = pageSize(query.limit, auditPageDefaultLimitForAdmin, auditPageMaxLimitForAdmin)
    const user = query.userId !== undefined ? { id: query.userId } : query.phone
    const entries = await operator.listAudit({ ...(user === undefined ? {} : { user }), beforeId: query.cursor, limit: limit + 1 })
    const page = entries.slice(0, limit)
    const phone = query.userId === undefined && query.phone !== undefined ? operator.normalizePhone(query.phone) : null
    await recordRead(by, 'read.audit', { userId: query.userId ?? null, phone }, {
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      shown: page.length
    })
    return { entries: page, nextCursor: entries.length > limit ? page.at(-1)?.id ?? null : null }
  }

  return {
    authenticateKey,
    actorForPhone,
    actorForUser,
    adminOfSession,
    fromAllowedNetwork,
    findUsers,
    showUser,
    phoneLimits,
    revokeSession,
    revokeAllSessions,
    blockUser,
    unblockUser,
    deleteUser,
    clearLimits,
    clearPhoneLimits,
    removePasskey,
    smsSpend,
    listAudit
  }
}

export type AdminService = ReturnType<typeof createAdminService>
