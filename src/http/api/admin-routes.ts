import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { FraudOverview, FraudRule } from '../../services/fraud-admin.js'
import type { AdminCaller, AdminUserSummary, AdminUserView, AuditEntry as ServiceAuditEntry, SmsSpend } from '../../services/admin-service.js'
import { DomainError } from '../../domain/errors.js'
import { clientIp } from '../client-ip.js'
import { serverRequestIdOf } from '../request-id.js'
import {
  AdminUser, AuditEntry, AuditPage, AuditQuery, BlockBody, BlockReply, LimitsReply, PhoneLimits, PhoneLimitsBody, PhoneQuery, ReasonBody,
  PasskeyRemovedReply, RevokeSessionsBody, SessionsReply, UserPasskeyParams, SmsSpendReply, UserIdParams, UserPage, UserQuery,
  FraudDestinationParams, FraudOverviewReply, FraudQuery, FraudRuleBody, FraudRuleReply
} from './admin-schemas.js'
import { ignoreTypeOfEmptyBody } from './empty-body.js'
import { answerNotFound } from './not-found.js'
import { errorResponses } from './schemas.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the admin API's key check: who acts, from where. */
    adminCaller?: AdminCaller
  }
}

const adminSecurity = [{ adminKey: [] }]
const tags = ['admin']
// Exactly "Bearer <one token>"; anything else is no key.
const bearerKey = /^Bearer +(\S+) *$/i

const time = (ms: number): string => new Date(ms).toISOString()
const timeOrNull = (ms: number | null): string | null => ms === null ? null : time(ms)

function toSummary (user: AdminUserSummary) {
  return { id: user.id, phone: user.phone, invite_code: user.inviteCode, created_at: time(user.createdAt), blocked_at: timeOrNull(user.blockedAt), invited_by: user.invitedById }
}

function toAuditEntry (entry: ServiceAuditEntry) {
  return {
    id: entry.id,
    at: time(entry.at),
    actor: entry.actor,
    action: entry.action,
    target: { user_id: entry.target.userId, phone: entry.target.phone },
    details: entry.details,
    ip: entry.ip,
    request_id: entry.requestId,
    server_request_id: entry.serverRequestId
  }
}

function toCounter (counter: { key: string, windowStart: number, count: number, expiresAt: number }) {
  return { key: counter.key, window_start: time(counter.windowStart), count: counter.count, expires_at: time(counter.expiresAt) }
}

function toAdminUser (user: AdminUserView) {
  return {
    id: user.id,
    phone: user.phone,
    invite_code: user.inviteCode,
    created_at: time(user.createdAt),
    blocked: user.blocked === null ? null : { at: time(user.blocked.at), reason: user.blocked.reason },
    inviter: user.inviter === null ? null : { id: user.inviter.id, phone: user.inviter.phone, invite_code: user.inviter.inviteCode, invited_at: timeOrNull(user.inviter.invitedAt) },
    invitees: { count: user.invitees.count, latest: user.invitees.latest.map(invitee => ({ id: invitee.id, phone: invitee.phone, invited_at: timeOrNull(invitee.invitedAt) })) },
    sessions: user.sessions.map(session => ({
      id: session.id,
      kind: session.kind,
      created_at: time(session.createdAt),
      last_seen_at: time(session.lastSeenAt),
      expires_at: time(session.expiresAt),
      ip: session.ip,
      user_agent: session.userAgent
    })),
    passkeys: user.passkeys.map(passkey => ({
      id: passkey.id,
      name: passkey.name,
      device_type: passkey.deviceType,
      backed_up: passkey.backedUp,
      created_at: time(passkey.createdAt),
      last_used_at: timeOrNull(passkey.lastUsedAt)
    })),
    login_code: user.loginCode === undefined
      ? null
      : { state: user.loginCode.state, attempts: user.loginCode.attempts, created_at: time(user.loginCode.createdAt), expires_at: time(user.loginCode.expiresAt) },
    limits: user.limits.map(toCounter),
    events: user.events.map(event => ({ type: event.type, status: event.status, attempts: event.attempts, created_at: time(event.createdAt), last_error: event.lastError })),
    audit: user.audit.map(toAuditEntry)
  }
}

function toSmsSpend (spend: SmsSpend) {
  return {
    hourly_cap: spend.hourlyCap,
    hour: {
      sent: spend.hour.sent,
      remaining: Math.max(0, spend.hourlyCap - spend.hour.sent),
      refused: spend.hour.refused,
      window_start: time(spend.hour.windowStart),
      window_end: time(spend.hour.windowEnd)
    },
    day: { sent: spend.day.sent, window_start: time(spend.day.windowStart), window_end: time(spend.day.windowEnd) }
  }
}

function toFraudRule (rule: FraudRule) {
  return { destination: rule.destination, kind: rule.kind, verdict: rule.verdict, reason: rule.reason, set_by: rule.setBy, set_at: time(rule.setAt) }
}

function toFraudOverview (overview: FraudOverview) {
  return {
    mode: overview.mode,
    window_minutes: overview.windowMinutes,
    destinations: overview.destinations.map(d => ({
      destination: d.destination,
      kind: d.kind,
      sent: d.sent,
      entered: d.entered,
      solved: d.solved,
      baseline_per_window: d.baselinePerWindow,
      cooling_until: timeOrNull(d.coolingUntil),
      suspicion: d.suspicion,
      verdict: d.verdict === null ? null : toFraudRule(d.verdict)
    })),
    rules: overview.rules.map(toFraudRule)
  }
}

function callerOf (request: FastifyRequest): AdminCaller {
  if (request.adminCaller === undefined) throw new Error('an admin route ran without its key check')
  return request.adminCaller
}

// What the OpenAPI document says of the admin API's 404s: a missing, wrong or revoked key gets
// the same answer as an unknown path.
const keyRefused = 'a missing, wrong or revoked key (not_found, the answer of an unknown path)'
const notFound = Type.Ref('Error', { description: `Nothing here for ${keyRefused}` })
const userNotFound = Type.Ref('Error', { description: `No such account (user_not_found) or session (session_not_found); or ${keyRefused}` })
const adminErrors = (...statuses: number[]): Record<number, unknown> => ({ ...errorResponses(...statuses), 404: notFound })
const userErrors = (...statuses: number[]): Record<number, unknown> => ({ ...errorResponses(...statuses), 404: userNotFound })

/**
 * The admin API, under /api/admin/: thin routes over services/admin-service.ts. Before anything
 * else (onRequest: before the body is read or validated) the bearer key is checked; a request
 * without a valid one gets the API's answer for an unknown path (answerNotFound), so no one
 * without a key learns that these paths exist, nor whether a key was nearly right. The key is
 * never logged: the request log line names the route, and the audit log the key's name.
 */
export async function adminRoutes (fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const admin = app.services.admin
  const fraud = app.services.fraudAdmin
  app.addSchema(AuditEntry)

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const presented = bearerKey.exec(request.headers.authorization ?? '')?.[1]
    const actor = presented === undefined ? undefined : admin.authenticateKey(presented)
    if (actor === undefined) return answerNotFound(request, reply)
    const ip = clientIp(request)
    // Only a valid key learns of the network rule: without one, still an unknown path.
    if (!admin.fromAllowedNetwork(ip)) throw new DomainError('admin_network_refused')
    request.adminCaller = { actor, ip, requestId: request.id, serverRequestId: serverRequestIdOf(request) }
  })

  app.get('/users/', {
    schema: {
      tags,
      summary: 'Find accounts: by phone, by invite code, or all, newest first',
      description: 'Pages by keyset: pass next_cursor back as cursor. Phone and invite code are exact (normalised as typed on the sign-in page) and find at most one account.',
      security: adminSecurity,
      querystring: UserQuery,
      response: { 200: UserPage, ...adminErrors(400) }
    }
  }, async (request) => {
    const { phone, invite_code: inviteCode, cursor, limit } = request.query
    const page = await admin.findUsers(callerOf(request), { phone, inviteCode, cursor, limit })
    return { results: page.users.map(toSummary), next_cursor: page.nextCursor }
  })

  app.get('/users/:id/', {
    schema: {
      tags,
      summary: 'One account: profile, inviter, invitees, live sessions, limit counters, recent events and admin actions',
      security: adminSecurity,
      params: UserIdParams,
      response: { 200: AdminUser, ...userErrors(400) }
    }
  }, async (request) => toAdminUser(await admin.showUser(callerOf(request), request.params.id)))

  app.post('/users/:id/sessions/revoke/', {
    onRequest: ignoreTypeOfEmptyBody,
    schema: {
      tags,
      summary: 'End one session (session_id) or all of them',
      description: 'Apps and browsers so signed out must sign in again; their access tokens fail on the next request.',
      security: adminSecurity,
      params: UserIdParams,
      body: RevokeSessionsBody,
      response: { 200: SessionsReply, ...userErrors(400) }
    }
  }, async (request) => {
    const { session_id: sessionId, reason } = request.body ?? {}
    const caller = callerOf(request)
    return sessionId === undefined
      ? await admin.revokeAllSessions(caller, request.params.id, reason)
      : await admin.revokeSession(caller, request.params.id, sessionId, reason)
  })

  app.post('/users/:id/block/', {
    schema: {
      tags,
      summary: 'Block the account: every session ends, a sign-in gets 403 account_blocked',
      description: 'Blocking a blocked account changes nothing (changed: false); the reason of the block that changed it stays. Records user.blocked.',
      security: adminSecurity,
      params: UserIdParams,
      body: BlockBody,
      response: { 200: BlockReply, ...userErrors(400) }
    }
  }, async (request) => await admin.blockUser(callerOf(request), request.params.id, request.body.reason))

  app.post('/users/:id/unblock/', {
    onRequest: ignoreTypeOfEmptyBody,
    schema: {
      tags,
      summary: 'Lift a block: the person may sign in again',
      security: adminSecurity,
      params: UserIdParams,
      body: ReasonBody,
      response: { 200: BlockReply, ...userErrors(400) }
    }
  }, async (request) => await admin.unblockUser(callerOf(request), request.params.id, request.body?.reason))

  app.delete('/users/:id/', {
    onRequest: ignoreTypeOfEmptyBody,
    schema: {
      tags,
      summary: 'Delete the account, as the person\'s own deletion does',
      description: 'The same erasure as DELETE /api/users/me/ (no code asked for): the phone, every session and refresh token, the login code go; the invite code stays reserved; user.deleted is recorded. The audit log keeps the entry, with the phone.',
      security: adminSecurity,
      params: UserIdParams,
      body: ReasonBody,
      response: { 204: Type.Null({ description: 'The account is deleted' }), ...userErrors(400) }
    }
  }, async (request, reply) => {
    await admin.deleteUser(callerOf(request), request.params.id, request.body?.reason)
    return await reply.code(204).send(null)
  })

  app.delete('/users/:id/passkeys/:passkey_id/', {
    onRequest: ignoreTypeOfEmptyBody,
    schema: {
      tags,
      summary: 'Remove one of the account\'s passkeys',
      description: 'It signs nothing in from now on, and the sessions it signed in end; the phone stays the way in. A passkey id that is not this account\'s gets 404 passkey_not_found. Audited as passkey.remove; passkey.removed is sent with by: admin.',
      security: adminSecurity,
      params: UserPasskeyParams,
      body: ReasonBody,
      response: { 200: PasskeyRemovedReply, ...userErrors(400) }
    }
  }, async (request) => {
    const { removed } = await admin.removePasskey(callerOf(request), request.params.id, request.params.passkey_id, request.body?.reason)
    return { removed: { id: removed.id, name: removed.name } }
  })

  app.post('/users/:id/limits/clear/', {
    onRequest: ignoreTypeOfEmptyBody,
    schema: {
      tags,
      summary: 'Clear the send and wrong-code counters of the account\'s phone',
      security: adminSecurity,
      params: UserIdParams,
      body: ReasonBody,
      response: { 200: LimitsReply, ...userErrors(400) }
    }
  }, async (request) => await admin.clearLimits(callerOf(request), request.params.id, request.body?.reason))

  app.get('/limits/', {
    schema: {
      tags,
      summary: 'The limit counters of a phone, with or without an account',
      security: adminSecurity,
      querystring: PhoneQuery,
      response: { 200: PhoneLimits, ...adminErrors(400) }
    }
  }, async (request) => {
    const result = await admin.phoneLimits(callerOf(request), request.query.phone)
    return { phone: result.phone, user_id: result.userId, limits: result.limits.map(toCounter) }
  })

  app.post('/limits/clear/', {
    schema: {
      tags,
      summary: 'Clear the counters of a phone, with or without an account (a person who never got a first code)',
      security: adminSecurity,
      body: PhoneLimitsBody,
      response: { 200: LimitsReply, ...adminErrors(400) }
    }
  }, async (request) => await admin.clearPhoneLimits(callerOf(request), request.body.phone, request.body.reason))

  app.get('/sms-spend/', {
    schema: {
      tags,
      summary: 'SMS sent this hour (against SMS_HOURLY_CAP) and this day',
      security: adminSecurity,
      response: { 200: SmsSpendReply, 404: notFound }
    }
  }, async () => toSmsSpend(await admin.smsSpend()))

  app.get('/audit/', {
    schema: {
      tags,
      summary: 'The audit log of admin actions, newest first',
      description: 'Every action of the admin API, the admin pages and the operator CLI: who (key name, admin phone, or cli and the OS user), what, to whom, when, from where. Entries are never deleted, also not with the account they name. Filter by the account\'s id or the phone it had.',
      security: adminSecurity,
      querystring: AuditQuery,
      response: { 200: AuditPage, ...adminErrors(400) }
    }
  }, async (request) => {
    const { user_id: userId, phone, cursor, limit } = request.query
    const page = await admin.listAudit(callerOf(request), { userId, phone, cursor, limit })
    return { results: page.entries.map(toAuditEntry), next_cursor: page.nextCursor }
  })

  app.get('/fraud/', {
    schema: {
      tags,
      summary: 'The fraud guard: destinations of codes (number prefixes and countries) with their figures, suspicion and verdict; every verdict',
      description: 'Destinations counted in the guard\'s window (FRAUD_WINDOW_MINUTES), busiest first: codes sent, entered and challenges solved, the usual rate, a cooling-off in progress, why the guard calls the destination suspect (null: it does not) and the operator\'s verdict. Audited as read.fraud.',
      security: adminSecurity,
      querystring: FraudQuery,
      response: { 200: FraudOverviewReply, ...adminErrors(400) }
    }
  }, async (request) => toFraudOverview(await fraud.overview(callerOf(request), { limit: request.query.limit })))

  app.post('/fraud/rules/', {
    schema: {
      tags,
      summary: 'Allow or block a number prefix or a country by hand',
      description: 'Replaces the verdict there was. Holds from the next code on, in every instance. allow: the guard never asks a challenge there nor cools it off; block: numbers there without an account get 400 phone_not_allowed (people with an account, or a device token of the phone, still sign in). A prefix is matched exactly as the guard counts it: a number without its last FRAUD_PREFIX_DIGITS digits. Audited as fraud.allow or fraud.block.',
      security: adminSecurity,
      body: FraudRuleBody,
      response: { 200: FraudRuleReply, ...adminErrors(400) }
    }
  }, async (request) => await fraud.setVerdict(callerOf(request), request.body))

  app.delete('/fraud/rules/:destination/', {
    onRequest: ignoreTypeOfEmptyBody,
    schema: {
      tags,
      summary: 'Remove the verdict on a destination: the guard decides alone again',
      description: 'changed: false when there was none. Audited as fraud.clear.',
      security: adminSecurity,
      params: FraudDestinationParams,
      body: ReasonBody,
      response: { 200: FraudRuleReply, ...adminErrors(400) }
    }
  }, async (request) => await fraud.clearVerdict(callerOf(request), request.params.destination, request.body?.reason))
}
