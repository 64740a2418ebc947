import { Type, type TSchema } from 'typebox'
import { PhoneInput } from './schemas.js'

// The admin API's contract (/api/admin/). Times are ISO 8601 in UTC, as in the data export.

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const Time = Type.String({ format: 'date-time' })
const UserId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The account\'s id' })
const Cursor = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'next_cursor of the page before; leave out for the first page' })
const NextCursor = Nullable(Type.Integer({ description: 'Pass it as cursor for the next (older) page; null on the last page' }))

const Reason = Type.String({ minLength: 1, maxLength: 500, description: 'Why, for the audit log (1 to 500 characters)' })

export const UserIdParams = Type.Object({ id: UserId })

export const UserQuery = Type.Object({
  phone: Type.Optional(PhoneInput),
  invite_code: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'The account\'s own invite code; case and dashes as typed', examples: ['K7M2XQ'] })),
  cursor: Type.Optional(Cursor),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Accounts per page' }))
})

export const UserSummary = Type.Object({
  id: Type.Integer(),
  phone: Type.String({ description: 'E.164' }),
  invite_code: Type.String(),
  created_at: Time,
  blocked_at: Nullable(Time),
  invited_by: Nullable(Type.Integer({ description: 'The id of the account whose code this one activated' }))
})

export const UserPage = Type.Object({
  results: Type.Array(UserSummary, { description: 'Accounts, newest first; deleted ones are left out' }),
  next_cursor: NextCursor
})

export const AuditEntry = Type.Object({
  id: Type.Integer(),
  at: Time,
  actor: Type.Object({
    kind: Type.String({ description: 'key (an admin API key), phone (an admin on the admin pages) or cli (the operator CLI)' }),
    name: Type.String({ description: 'The key\'s name, the admin\'s phone, or the OS user of the CLI' })
  }),
  action: Type.String({ description: 'session.revoke, sessions.revoke_all, user.block, user.unblock, user.delete, limits.clear, passkey.remove, fraud.allow, fraud.block or fraud.clear; reads: read.users, read.user, read.limits, read.audit, read.fraud' }),
  target: Type.Object({
    user_id: Nullable(Type.Integer()),
    phone: Nullable(Type.String({ description: 'The phone the account had at the time: kept after the account is deleted' }))
  }),
  details: Type.Object({}, { additionalProperties: true, description: 'The reason given, whether anything changed, how many sessions ended or counters went' }),
  ip: Nullable(Type.String({ description: 'The client address the action came from' })),
  request_id: Nullable(Type.String({ description: 'The request id, as in the request log line: the caller\'s X-Request-Id when it sent one' })),
  server_request_id: Nullable(Type.String({ description: 'The server\'s own id of the request (the log line\'s serverId when the caller sent an X-Request-Id); null for entries from before it was kept and from the CLI' }))
}, { $id: 'AuditEntry', title: 'AuditEntry' })

export const AuditQuery = Type.Object({
  user_id: Type.Optional(UserId),
  phone: Type.Optional(PhoneInput),
  cursor: Type.Optional(Cursor),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Entries per page' }))
})

export const AuditPage = Type.Object({
  results: Type.Array(Type.Ref('AuditEntry'), { description: 'Newest first' }),
  next_cursor: NextCursor
})

const LimitCounter = Type.Object({
  key: Type.String({ description: 'What is counted, e.g. code:phone:+79123456789:h (codes sent, this hour) or wrong:phone:…:d (wrong codes, this day)' }),
  window_start: Time,
  count: Type.Integer(),
  expires_at: Time
})

export const AdminUser = Type.Object({
  id: Type.Integer(),
  phone: Type.String({ description: 'E.164' }),
  invite_code: Type.String(),
  created_at: Time,
  blocked: Nullable(Type.Object({ at: Time, reason: Nullable(Type.String()) })),
  inviter: Nullable(Type.Object({
    id: Type.Integer(),
    phone: Nullable(Type.String({ description: 'null when the inviter has deleted their account' })),
    invite_code: Type.String(),
    invited_at: Nullable(Time)
  }, { description: 'Whose code this account activated' })),
  invitees: Type.Object({
    count: Type.Integer({ description: 'How many joined with this account\'s code' }),
    latest: Type.Array(Type.Object({ id: Type.Integer(), phone: Type.String(), invited_at: Nullable(Time) }), { description: 'The latest 20 of them, newest first' })
  }),
  sessions: Type.Array(Type.Object({
    id: Type.String({ description: 'What POST …/sessions/revoke/ takes as session_id' }),
    kind: Type.String({ description: 'api (an app) or web (a browser)' }),
    created_at: Time,
    last_seen_at: Time,
    expires_at: Time,
    ip: Nullable(Type.String()),
    user_agent: Nullable(Type.String())
  }), { description: 'Live sessions, most recently seen first' }),
  passkeys: Type.Array(Type.Object({
    id: Type.String({ description: 'The credential id, base64url: what DELETE …/passkeys/{passkey_id}/ takes' }),
    name: Type.String(),
    device_type: Type.String({ description: 'singleDevice, or multiDevice (a synced passkey)' }),
    backed_up: Type.Boolean(),
    created_at: Time,
    last_used_at: Nullable(Time)
  }), { description: 'The account\'s passkeys, oldest first; never the public key' }),
  login_code: Nullable(Type.Object({
    state: Type.String({ description: 'live, expired or spent' }),
    attempts: Type.Integer({ description: 'Wrong tries at it so far' }),
    created_at: Time,
    expires_at: Time
  })),
  limits: Type.Array(LimitCounter, { description: 'The limit counters about this phone (sends, wrong codes, device budgets)' }),
  events: Type.Array(Type.Object({
    type: Type.String(),
    status: Type.String({ description: 'pending, delivered or failed' }),
    attempts: Type.Integer(),
    created_at: Time,
    last_error: Nullable(Type.String())
  }), { description: 'Webhook events about the account still in the outbox, newest first (at most 20)' }),
  audit: Type.Array(Type.Ref('AuditEntry'), { description: 'The latest 20 admin actions on the account, newest first' })
}, { description: 'One account, as support sees it' })

export const UserPasskeyParams = Type.Object({
  id: UserId,
  passkey_id: Type.String({ minLength: 1, maxLength: 1400, pattern: '^[A-Za-z0-9_-]+$', description: 'The credential id, base64url, as in the account\'s passkeys' })
})

export const PasskeyRemovedReply = Type.Object({
  removed: Type.Object({ id: Type.String(), name: Type.String() }, { description: 'The passkey that went' })
})

export const PhoneQuery = Type.Object({ phone: PhoneInput })

export const PhoneLimits = Type.Object({
  phone: Type.String({ description: 'E.164' }),
  user_id: Nullable(Type.Integer({ description: 'The account with this phone, if any' })),
  limits: Type.Array(LimitCounter)
})

export const RevokeSessionsBody = Type.Union([Type.Object({
  session_id: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$', description: 'One session (an id from GET /api/admin/users/{id}/); leave out to end them all' })),
  reason: Type.Optional(Reason)
}), Type.Null()])

export const BlockBody = Type.Object({ reason: Type.String({ ...Reason, description: 'Why (1 to 500 characters): kept with the block and in the audit log' }) })
export const ReasonBody = Type.Union([Type.Object({ reason: Type.Optional(Reason) }), Type.Null()])
export const PhoneLimitsBody = Type.Object({ phone: PhoneInput, reason: Type.Optional(Reason) })

export const SessionsReply = Type.Object({
  phone: Type.String(),
  revoked: Type.Integer({ description: 'Sessions this call ended (0 when the one named had ended already)' })
})

export const BlockReply = Type.Object({
  phone: Type.String(),
  changed: Type.Boolean({ description: 'false when the account already was as asked: nothing changed (the call is still in the audit log)' }),
  revoked: Type.Integer({ description: 'Sessions the block ended' })
})

export const LimitsReply = Type.Object({
  phone: Type.String(),
  deleted: Type.Integer({ description: 'Limit counters deleted' })
})

export const SmsSpendReply = Type.Object({
  hourly_cap: Type.Integer({ description: 'SMS_HOURLY_CAP' }),
  hour: Type.Object({
    sent: Type.Integer({ description: 'SMS sent this clock hour (UTC)' }),
    remaining: Type.Integer({ description: 'How many more the cap allows this hour' }),
    refused: Type.Integer({ description: 'Codes refused this hour because the cap was reached' }),
    window_start: Time,
    window_end: Time
  }),
  day: Type.Object({
    sent: Type.Integer({ description: 'SMS sent this UTC day (counted since this version started counting)' }),
    window_start: Time,
    window_end: Time
  })
})

// The fraud guard (issue 23): destinations of codes, their figures, and operators' verdicts.

const DestinationName = Type.String({ description: 'A number prefix as the guard counts it (a number without its last FRAUD_PREFIX_DIGITS digits, e.g. +44791112) or a country\'s ISO 3166 code (e.g. GB)' })
const DestinationKind = Type.Union([Type.Literal('prefix'), Type.Literal('country')])
const Verdict = Type.Union([Type.Literal('allow'), Type.Literal('block')], { description: 'allow: the guard never holds codes there back (no challenge, no cooling-off); block: numbers there without an account get 400 phone_not_allowed' })

export const FraudRule = Type.Object({
  destination: DestinationName,
  kind: DestinationKind,
  verdict: Verdict,
  reason: Type.String(),
  set_by: Type.String({ description: 'Who set it: key:<name> or phone:<admin phone>' }),
  set_at: Time
})

export const FraudQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Destinations at most, busiest first' }))
})

export const FraudOverviewReply = Type.Object({
  mode: Type.String({ description: 'FRAUD_GUARD: enforce, audit or off' }),
  window_minutes: Type.Integer({ description: 'FRAUD_WINDOW_MINUTES: the window the figures count over' }),
  destinations: Type.Array(Type.Object({
    destination: DestinationName,
    kind: DestinationKind,
    sent: Type.Integer({ description: 'Codes sent in the window' }),
    entered: Type.Integer({ description: 'Codes entered right in the window' }),
    solved: Type.Integer({ description: 'Challenges solved in the window' }),
    baseline_per_window: Type.Number({ description: 'Codes a window carried on average over the baseline days (FRAUD_BASELINE_DAYS); 0: no history yet' }),
    cooling_until: Nullable(Time),
    suspicion: Nullable(Type.String({ description: 'Why the guard calls it suspect; null: it does not' })),
    verdict: Nullable(FraudRule)
  }), { description: 'Destinations counted in the window, busiest first' }),
  rules: Type.Array(FraudRule, { description: 'Every verdict, newest first' })
})

export const FraudRuleBody = Type.Object({
  destination: Type.String({ minLength: 1, maxLength: 40, description: 'A number prefix (+ and 2 to 14 digits, e.g. +44791112) or a country\'s ISO 3166 code (e.g. GB). The guard matches the prefix it counts exactly: a number without its last FRAUD_PREFIX_DIGITS digits.', examples: ['+44791112', 'GB'] }),
  verdict: Verdict,
  reason: Type.String({ ...Reason, description: 'Why (1 to 500 characters): kept with the verdict and in the audit log' })
})

export const FraudDestinationParams = Type.Object({ destination: Type.String({ minLength: 1, maxLength: 40, description: 'A number prefix (+44791112, or %2B44791112) or a country code (GB)' }) })

export const FraudRuleReply = Type.Object({
  destination: DestinationName,
  kind: DestinationKind,
  verdict: Nullable(Verdict),
  changed: Type.Boolean({ description: 'false when it already was so: nothing changed (the call is still in the audit log)' })
})
