import { formatPhoneForDisplay } from '../../domain/phone.js'
import { keptFormat, translate, type Locale, type MessageKey } from '../../i18n/catalogue.js'
import type { AdminLimitCounter, AdminSession, AdminUserSummary, AdminUserView, AuditEntry, SmsSpend } from '../../services/admin-service.js'
import type { FraudOverview, FraudRule } from '../../services/fraud-admin.js'
import type { Passkey } from '../../services/passkey-service.js'
import { describeDevice, formatMoment } from './view-model.js'

// What the support pages show, worked out from the admin service's answers: texts in the
// page's language, times and phones formatted. No rule is decided here.

const actorKeys: Record<string, MessageKey> = {
  phone: 'page_admin_actor_phone',
  key: 'page_admin_actor_key',
  cli: 'page_admin_actor_cli'
}

const actionKeys: Record<string, MessageKey> = {
  'session.revoke': 'page_admin_audit_session_revoke',
  'sessions.revoke_all': 'page_admin_audit_sessions_revoke_all',
  'user.block': 'page_admin_audit_user_block',
  'user.unblock': 'page_admin_audit_user_unblock',
  'user.delete': 'page_admin_audit_user_delete',
  'limits.clear': 'page_admin_audit_limits_clear',
  'read.users': 'page_admin_audit_read_users',
  'read.user': 'page_admin_audit_read_user',
  'read.limits': 'page_admin_audit_read_limits',
  'read.audit': 'page_admin_audit_read_audit',
  'fraud.allow': 'page_admin_audit_fraud_allow',
  'fraud.block': 'page_admin_audit_fraud_block',
  'fraud.clear': 'page_admin_audit_fraud_clear',
  'passkey.remove': 'page_admin_audit_passkey_remove',
  'read.fraud': 'page_admin_audit_read_fraud'
}

// Limit counters by the key limits.ts writes: what each counts, in words. A key of another
// shape is shown as it is.
const counterLabels: Array<[RegExp, MessageKey]> = [
  [/^code:phone:/, 'page_admin_counter_code_phone'],
  [/^code:device:/, 'page_admin_counter_code_device'],
  [/^code:all:/, 'page_admin_counter_code_all'],
  [/^device:new:/, 'page_admin_counter_device_new'],
  [/^wrong:phone:/, 'page_admin_counter_wrong_phone'],
  [/^wrong:device:/, 'page_admin_counter_wrong_device']
]

/**
 * A counting window, short: an hour as "Jan 1, 2026, 3:00 – 4:00 PM UTC", a day as its date
 * ("Jan 1, 2026 UTC"). Limits count in clock hours and UTC days.
 */
export function formatWindow (locale: Locale, start: number, end: number): string {
  if (end - start > 3_600_000) {
    return keptFormat(`day ${locale}`, () => new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' })).format(start) + ' UTC'
  }
  return keptFormat(`moment ${locale}`, () => new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })).formatRange(start, end) + ' UTC'
}

function phoneOrDash (phone: string | null): string | null {
  return phone === null ? null : formatPhoneForDisplay(phone)
}

export function userSummaryView (locale: Locale, user: AdminUserSummary) {
  return {
    id: user.id,
    phone: formatPhoneForDisplay(user.phone),
    inviteCode: user.inviteCode,
    created: formatMoment(locale, user.createdAt),
    blocked: user.blockedAt !== null
  }
}

/** The lines under an entry's action: the reason given and what the action changed. */
function auditDetails (locale: Locale, entry: AuditEntry): string[] {
  const details = entry.details
  const lines: string[] = []
  if (typeof details.destination === 'string') lines.push(translate(locale, 'page_admin_audit_destination', { destination: details.destination }))
  if (typeof details.session === 'string') lines.push(translate(locale, 'page_admin_audit_session', { session: details.session }))
  if (details.changed === false) lines.push(translate(locale, 'page_admin_audit_unchanged'))
  else if (typeof details.revoked === 'number' && entry.action !== 'user.unblock') lines.push(translate(locale, 'page_admin_audit_revoked', { count: details.revoked }))
  if (typeof details.deleted === 'number') lines.push(translate(locale, 'page_admin_audit_deleted', { count: details.deleted }))
  if (typeof details.reason === 'string') lines.push(translate(locale, 'page_admin_audit_reason', { reason: details.reason }))
  return lines
}

export function auditEntryView (locale: Locale, entry: AuditEntry) {
  const actorKey = actorKeys[entry.actor.kind]
  const actorName = entry.actor.kind === 'phone' ? formatPhoneForDisplay(entry.actor.name) : entry.actor.name
  const actionKey = actionKeys[entry.action]
  return {
    when: formatMoment(locale, entry.at),
    who: actorKey === undefined ? actorName : translate(locale, actorKey, { name: actorName }),
    what: actionKey === undefined ? entry.action : translate(locale, actionKey),
    details: auditDetails(locale, entry),
    whom: { userId: entry.target.userId, phone: phoneOrDash(entry.target.phone) },
    ip: entry.ip,
    requestId: entry.requestId
  }
}

export function counterView (locale: Locale, counter: AdminLimitCounter) {
  const label = counterLabels.find(([pattern]) => pattern.test(counter.key))?.[1] ?? 'page_admin_counter_other'
  return {
    label: translate(locale, label),
    key: counter.key,
    count: counter.count,
    window: formatWindow(locale, counter.windowStart, counter.expiresAt)
  }
}

export function sessionView (locale: Locale, session: AdminSession) {
  const since = formatMoment(locale, session.createdAt)
  return {
    id: session.id,
    kind: translate(locale, session.kind === 'api' ? 'page_session_app' : 'page_session_browser'),
    device: describeDevice(session.userAgent) ?? translate(locale, 'page_admin_unknown'),
    ip: session.ip ?? translate(locale, 'page_admin_unknown'),
    since,
    lastSeen: formatMoment(locale, session.lastSeenAt),
    endLabel: translate(locale, 'page_admin_action_end_session_label', { date: since })
  }
}

export function passkeyView (locale: Locale, passkey: Passkey) {
  return {
    id: passkey.id,
    name: passkey.name,
    kind: translate(locale, passkey.deviceType === 'multiDevice' ? 'page_admin_passkey_multi' : 'page_admin_passkey_single'),
    backedUp: translate(locale, passkey.backedUp ? 'page_admin_yes' : 'page_admin_no'),
    created: formatMoment(locale, passkey.createdAt),
    lastUsed: passkey.lastUsedAt === null ? translate(locale, 'page_passkey_never') : formatMoment(locale, passkey.lastUsedAt)
  }
}

function loginCodeText (locale: Locale, code: AdminUserView['loginCode']): string {
  if (code === undefined) return translate(locale, 'page_admin_code_none')
  if (code.state === 'live') return translate(locale, 'page_admin_code_live', { date: formatMoment(locale, code.expiresAt), count: code.attempts })
  if (code.state === 'expired') return translate(locale, 'page_admin_code_expired', { date: formatMoment(locale, code.expiresAt) })
  return translate(locale, 'page_admin_code_spent', { date: formatMoment(locale, code.createdAt) })
}

export function adminUserView (locale: Locale, user: AdminUserView) {
  return {
    id: user.id,
    phone: formatPhoneForDisplay(user.phone),
    inviteCode: user.inviteCode,
    created: formatMoment(locale, user.createdAt),
    blocked: user.blocked === null ? null : { since: formatMoment(locale, user.blocked.at), reason: user.blocked.reason },
    inviter: user.inviter === null
      ? null
      : {
          id: user.inviter.id,
          phone: phoneOrDash(user.inviter.phone),
          inviteCode: user.inviter.inviteCode,
          invitedAt: user.inviter.invitedAt === null ? null : formatMoment(locale, user.inviter.invitedAt)
        },
    invitedCount: user.invitees.count,
    invitees: user.invitees.latest.map(invitee => ({
      id: invitee.id,
      phone: formatPhoneForDisplay(invitee.phone),
      invitedAt: invitee.invitedAt === null ? '' : formatMoment(locale, invitee.invitedAt)
    })),
    sessions: user.sessions.map(session => sessionView(locale, session)),
    passkeys: user.passkeys.map(passkey => passkeyView(locale, passkey)),
    loginCode: loginCodeText(locale, user.loginCode),
    limits: user.limits.map(counter => counterView(locale, counter)),
    events: user.events.map(event => ({ type: event.type, status: event.status, attempts: event.attempts, created: formatMoment(locale, event.createdAt) })),
    audit: user.audit.map(entry => auditEntryView(locale, entry))
  }
}

export function spendView (locale: Locale, spend: SmsSpend) {
  return {
    hour: {
      text: translate(locale, 'page_admin_spend_of_cap', { sent: spend.hour.sent, cap: spend.hourlyCap }),
      refused: spend.hour.refused > 0 ? translate(locale, 'page_admin_spend_refused', { count: spend.hour.refused }) : undefined,
      window: formatWindow(locale, spend.hour.windowStart, spend.hour.windowEnd)
    },
    day: { sent: spend.day.sent, window: formatWindow(locale, spend.day.windowStart, spend.day.windowEnd) }
  }
}

/** Who set a verdict (`key:support`, `phone:+7912…`), as the audit log's pages name them. */
function setByText (locale: Locale, setBy: string): string {
  const at = setBy.indexOf(':')
  const kind = at < 0 ? '' : setBy.slice(0, at)
  const name = at < 0 ? setBy : setBy.slice(at + 1)
  const key = actorKeys[kind]
  return key === undefined ? setBy : translate(locale, key, { name: kind === 'phone' ? formatPhoneForDisplay(name) : name })
}

/** Where a destination's allow, block or clear starts: its confirmation page. */
export function fraudActionHref (action: 'allow' | 'block' | 'clear', destination: string): string {
  return `/admin/fraud/confirm?action=${action}&destination=${encodeURIComponent(destination)}`
}

function verdictView (locale: Locale, rule: FraudRule) {
  return {
    label: translate(locale, rule.verdict === 'allow' ? 'page_admin_fraud_verdict_allow' : 'page_admin_fraud_verdict_block'),
    blocked: rule.verdict === 'block',
    by: translate(locale, 'page_admin_fraud_verdict_by', { who: setByText(locale, rule.setBy), date: formatMoment(locale, rule.setAt), reason: rule.reason })
  }
}

function fraudActions (locale: Locale, destination: string, verdict: FraudRule['verdict'] | undefined) {
  const actions: Array<{ href: string, label: string }> = []
  if (verdict !== 'allow') actions.push({ href: fraudActionHref('allow', destination), label: translate(locale, 'page_admin_fraud_action_allow', { destination }) })
  if (verdict !== 'block') actions.push({ href: fraudActionHref('block', destination), label: translate(locale, 'page_admin_fraud_action_block', { destination }) })
  if (verdict !== undefined) actions.push({ href: fraudActionHref('clear', destination), label: translate(locale, 'page_admin_fraud_action_clear', { destination }) })
  return actions
}

const modeKeys: Record<FraudOverview['mode'], MessageKey> = {
  enforce: 'page_admin_fraud_mode_enforce',
  audit: 'page_admin_fraud_mode_audit',
  off: 'page_admin_fraud_mode_off'
}

export function fraudOverviewView (locale: Locale, overview: FraudOverview) {
  const number = keptFormat(`one decimal ${locale}`, () => new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }))
  return {
    mode: translate(locale, modeKeys[overview.mode]),
    windowMinutes: overview.windowMinutes,
    destinations: overview.destinations.map(d => ({
      name: d.destination,
      kind: translate(locale, d.kind === 'prefix' ? 'page_admin_fraud_kind_prefix' : 'page_admin_fraud_kind_country'),
      sent: d.sent,
      entered: d.entered,
      solved: d.solved,
      baseline: number.format(d.baselinePerWindow),
      suspicion: d.suspicion,
      cooling: d.coolingUntil === null ? undefined : translate(locale, 'page_admin_fraud_cooling', { date: formatMoment(locale, d.coolingUntil) }),
      verdict: d.verdict === null ? null : verdictView(locale, d.verdict),
      actions: fraudActions(locale, d.destination, d.verdict?.verdict)
    })),
    rules: overview.rules.map(rule => ({
      name: rule.destination,
      kind: translate(locale, rule.kind === 'prefix' ? 'page_admin_fraud_kind_prefix' : 'page_admin_fraud_kind_country'),
      verdict: verdictView(locale, rule),
      actions: fraudActions(locale, rule.destination, rule.verdict)
    }))
  }
}
