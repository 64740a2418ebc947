import { DomainError } from '../domain/errors.js'
import { normalizePhone } from '../domain/phone.js'
import {
  deleteLimitCounters, findLoginCodeState, listInviteTree, listLimitCounters, listUndeliveredEvents, listUserSessions,
  resendFailedEvents, type InviteTreeRow, type LimitCounterRow, type WebhookEventState
} from '../store/operator.js'
import type { WebhookEventStatus } from '../store/schema.js'
import { revokeUserSessions } from '../store/sessions.js'
import { blockUser as blockUserRow, findProfile, findUserByPhone, unblockUser as unblockUserRow } from '../store/users.js'
import type { Config } from '../config.js'
import type { Db } from '../store/database.js'
import type { ProfileRow } from '../store/users.js'
import type { Clock } from './clock.js'
import { deriveKeys } from './keys.js'
import { createSigningKeys, type KeyInfo, type KeyLogger } from './signing-keys.js'
import { createEventRecorder } from './webhooks.js'

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

export interface InviteNode {
  phone: string
  invitedAt: number | null
  invited: InviteNode[]
}

/** What an operator does to help a person: look, sign them out, lift their limits; and the token-signing keys. */
export function createOperatorService ({ db, config, clock, logger }: { db: Db, config: Config, clock: Clock, logger?: KeyLogger }) {
  const quiet = { info: () => {}, warn: () => {}, error: () => {} }
  const signingKeys = createSigningKeys(
    { db, clock, keys: deriveKeys(config.secrets), logger: logger ?? quiet },
    { ...config.jwt, accessTokenTtlSeconds: config.accessTokenTtlSeconds }
  )
  const events = createEventRecorder({ config, clock })
  function normalize (rawPhone: string): string {
    return normalizePhone(rawPhone, {
      defaultCountry: config.phoneDefaultCountry,
      isTestNumber: phone => config.testPhoneNumbers.has(phone)
    })
  }

  async function requireUser (rawPhone: string) {
    const user = await findUserByPhone(db, normalize(rawPhone))
    if (user === undefined) throw new DomainError('not_found', { field: 'phone' })
    return user
  }

  async function showUser (rawPhone: string): Promise<UserState> {
    const user = await requireUser(rawPhone)
    const now = clock.now()
    const profile = await findProfile(db, user.id, config.profileInvitedLimit)
    if (profile === undefined) throw new DomainError('not_found', { field: 'phone' })
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
  async function signOutUser (rawPhone: string): Promise<{ phone: string, revoked: number }> {
    const user = await requireUser(rawPhone)
    return { phone: user.phone, revoked: await revokeUserSessions(db, user.id, clock.now()) }
  }

  /**
   * Stops an abusive account: no sign-in (403 account_blocked, told only to whoever enters a
   * right code) and every session ended, in one transaction with the user.blocked event.
   */
  async function blockUser (rawPhone: string, reason: string): Promise<BlockResult> {
    const trimmed = reason.trim()
    if (trimmed === '' || trimmed.length > blockReasonMaxLength) throw new DomainError('validation_error', { field: 'reason' })
    const user = await requireUser(rawPhone)
    const now = clock.now()
    return await db.transaction().execute(async (trx) => {
      if (!await blockUserRow(trx, user.id, trimmed, now)) return { phone: user.phone, changed: false, revoked: 0 }
      const revoked = await revokeUserSessions(trx, user.id, now)
      await events.record(trx, 'user.blocked', { id: user.id, phone: user.phone })
      return { phone: user.phone, changed: true, revoked }
    })
  }

  /** Lifts a block: the person may sign in again (their old sessions stay ended). */
  async function unblockUser (rawPhone: string): Promise<BlockResult> {
    const user = await requireUser(rawPhone)
    return await db.transaction().execute(async (trx) => {
      if (!await unblockUserRow(trx, user.id)) return { phone: user.phone, changed: false, revoked: 0 }
      await events.record(trx, 'user.unblocked', { id: user.id, phone: user.phone })
      return { phone: user.phone, changed: true, revoked: 0 }
    })
  }

  /** Works for phones without an account too: limits are counted before sign-up. */
  async function clearLimits (rawPhone: string): Promise<{ phone: string, deleted: number }> {
    const phone = normalize(rawPhone)
    return { phone, deleted: await deleteLimitCounters(db, phone) }
  }

  async function inviteTree (rawPhone: string): Promise<InviteNode> {
    const user = await requireUser(rawPhone)
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

  return { normalizePhone: normalize, showUser, signOutUser, blockUser, unblockUser, clearLimits, inviteTree, listKeys, rotateKeys, importKey, revokeKey, listWebhookEvents, resendWebhookEvents }
}

export type OperatorService = ReturnType<typeof createOperatorService>
