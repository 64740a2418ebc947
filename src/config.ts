import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { BlockList, isIP } from 'node:net'
import { dirname, join } from 'node:path'
import { envSchema } from 'env-schema'
import { Type, type Static } from 'typebox'
import type { CountryCode } from 'libphonenumber-js'
import { getCountries } from 'libphonenumber-js/max'
import { normalizePhone } from './domain/phone.js'
import type { TrustProxy } from './http/trust-proxy.js'
import { redactUrl } from './redact.js'
import { secretWeakness } from './secret-strength.js'
import { captchaVerifyUrls, type CaptchaSettings } from './services/captcha.js'
import { ChannelEnvSchema, ChannelSettingsError, parseChannelSettings, type ChannelSettings } from './channels/settings.js'

/** Every event phonepass may send (docs/OPERATIONS.md, the OpenAPI document's x-webhooks). */
export const webhookEventTypes = [
  'user.created', 'user.signed_in', 'invite.activated', 'user.deleted', 'user.phone_changed', 'user.blocked', 'user.unblocked',
  'fraud.destination_suspect', 'passkey.added', 'passkey.removed'
] as const
export type WebhookEventType = typeof webhookEventTypes[number]
// Sent only when WEBHOOK_EVENTS names it: one event per sign-in is the loud one.
const defaultWebhookEvents = webhookEventTypes.filter(type => type !== 'user.signed_in')
// 24 to 64 bytes in base64 is 32 to 88 characters.
const webhookSecretPattern = '^whsec_[A-Za-z0-9+/]{32,86}={0,2}(,whsec_[A-Za-z0-9+/]{32,86}={0,2})*$'

// Heroku's Node.js buildpack sets WEB_CONCURRENCY from the dyno's memory (28 on a Performance-L);
// more workers than this would be a typo, not a machine.
const maxWorkers = 64

// Each variable's description is also the text of the line printed when its value is wrong.
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development', description: 'one of development, production, test' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'a port number from 0 to 65535' }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'an address to listen on, e.g. 0.0.0.0 or 127.0.0.1' }),
  WEB_CONCURRENCY: Type.Integer({ minimum: 1, maximum: maxWorkers, default: 1, description: `a whole number of worker processes from 1 to ${maxWorkers}` }),
  DATABASE_URL: Type.String({ pattern: '^(sqlite:.+|postgres(ql)?://.+)$', default: 'sqlite:./data/phonepass.db', description: 'sqlite:<file>, sqlite::memory: or postgres://user:password@host:port/database' }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'a whole number of PostgreSQL connections per instance from 1 to 1000' }),
  DATABASE_LOCK_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60000, default: 2000, description: 'milliseconds from 10 to 60000' }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 10000, description: 'milliseconds from 100 to 600000' }),
  PGSSLMODE: Type.Optional(Type.Union(['disable', 'allow', 'prefer', 'require', 'no-verify', 'verify-ca', 'verify-full'].map(mode => Type.Literal(mode)), { description: 'one of disable, allow, prefer, require, no-verify, verify-ca, verify-full' })),
  PHONEPASS_SECRET: Type.Optional(Type.String({ pattern: '^[^,]{32,}(,[^,]{32,})*$', description: 'at least 32 characters (a comma-separated list when rotating: the first signs, all verify)' })),
  SMS_PROVIDER: Type.Union([Type.Literal('console'), Type.Literal('webhook'), Type.Literal('twilio')], { default: 'console', description: 'one of console, webhook, twilio' }),
  SMS_WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://.+', description: 'an http:// or https:// URL' })),
  SMS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60000, default: 5000, description: 'milliseconds from 100 to 60000' }),
  SMS_MAX_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'a whole number of SMS sends at once from 1 to 10000' }),
  OTP_LENGTH: Type.Integer({ minimum: 4, maximum: 8, default: 4, description: 'a whole number of digits from 4 to 8' }),
  OTP_TTL_SECONDS: Type.Integer({ minimum: 30, maximum: 600, default: 300, description: 'seconds from 30 to 600 (NIST: at most 10 minutes)' }),
  OTP_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 10, default: 3, description: 'a whole number from 1 to 10' }),
  OTP_RESEND_SECONDS: Type.Integer({ minimum: 0, maximum: 3600, default: 60, description: 'seconds from 0 to 3600' }),
  TEST_PHONE_NUMBERS: Type.String({ pattern: '^(\\s*\\+[0-9]{6,15}=[0-9]{4,8}\\s*(,\\s*\\+[0-9]{6,15}=[0-9]{4,8}\\s*)*)?$', default: '', description: 'a comma-separated list of +E164=code pairs, e.g. +15550100001=1234' }),
  PHONE_DEFAULT_COUNTRY: Type.String({ pattern: '^[A-Z]{2}$', default: 'RU', description: 'an ISO 3166 country code such as RU or GB, assumed for numbers typed without +' }),
  TRUST_PROXY: Type.String({ pattern: '^(|false|true|[0-9]{1,2}|[0-9a-fA-F.:/, ]+)$', default: 'false', description: 'false, true, a hop count from 1 to 99, or proxy addresses and CIDR ranges' }),
  ACCESS_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 86400, default: 900, description: 'seconds from 60 to 86400' }),
  JWT_ALGORITHM: Type.Union(['ES256', 'RS256', 'EdDSA', 'HS256'].map(alg => Type.Literal(alg)), { default: 'ES256', description: 'one of ES256, RS256, EdDSA, HS256' }),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'the iss claim, 1 to 256 characters, e.g. https://auth.example.com' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'the aud claim, 1 to 256 characters, e.g. example-api' })),
  JWT_KEY_PUBLISH_LEAD_SECONDS: Type.Integer({ minimum: 600, maximum: 604800, default: 3600, description: 'seconds from 600 to 604800 (longer than the JWKS cache of 300 s plus the 30 s re-read)' }),
  JWT_KEY_ROTATION_DAYS: Type.Integer({ minimum: 0, maximum: 3650, default: 90, description: 'days from 0 to 3650 (0: never, only `phonepass keys rotate`)' }),
  SESSION_TTL_DAYS: Type.Integer({ minimum: 1, maximum: 365, default: 30, description: 'days from 1 to 365' }),
  RETENTION_SESSION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 30, description: 'days from 1 to 3650 an ended session (and its refresh tokens) is kept after it expired or was revoked' }),
  RETENTION_LOGIN_CODE_DAYS: Type.Integer({ minimum: 1, maximum: 365, default: 1, description: 'days from 1 to 365 a login code row is kept after it expired' }),
  RETENTION_BATCH_SIZE: Type.Integer({ minimum: 10, maximum: 100_000, default: 1000, description: 'rows from 10 to 100000 one retention batch deletes' }),
  REFRESH_REUSE_GRACE_SECONDS: Type.Integer({ minimum: 0, maximum: 60, default: 10, description: 'seconds from 0 to 60' }),
  PROFILE_INVITED_LIMIT: Type.Integer({ minimum: 1, maximum: 100000, default: 1000, description: 'a whole number from 1 to 100000' }),
  TWILIO_ACCOUNT_SID: Type.Optional(Type.String({ pattern: '^AC[0-9a-fA-F]{32}$', description: 'a Twilio account SID: AC and 32 hex digits' })),
  TWILIO_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'the Twilio auth token (or an API key secret), at least 16 characters' })),
  TWILIO_FROM: Type.Optional(Type.String({ pattern: '^(\\+[0-9]{6,15}|[A-Za-z0-9 ]{1,11})$', description: 'a sender: +E164 number or an alphanumeric sender ID of up to 11 characters' })),
  TWILIO_MESSAGING_SERVICE_SID: Type.Optional(Type.String({ pattern: '^MG[0-9a-fA-F]{32}$', description: 'a Twilio messaging service SID: MG and 32 hex digits' })),
  TWILIO_BASE_URL: Type.String({ pattern: '^https?://[^/]+$', default: 'https://api.twilio.com', description: 'an http(s) origin without a path, e.g. https://api.twilio.com' }),
  SMS_ALLOWED_COUNTRIES: Type.String({ pattern: '^([A-Z]{2}(\\s*,\\s*[A-Z]{2})*)?$', default: '', description: 'a comma-separated list of ISO 3166 country codes, e.g. RU,KZ,GB (empty: all countries)' }),
  SMS_HOURLY_CAP: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 1000, description: 'a whole number of SMS an hour from 1 to 10000000' }),
  LIMIT_CODES_PER_PHONE_HOUR: Type.Integer({ minimum: 1, maximum: 1000, default: 3, description: 'a whole number from 1 to 1000' }),
  LIMIT_CODES_PER_PHONE_DAY: Type.Integer({ minimum: 1, maximum: 10000, default: 10, description: 'a whole number from 1 to 10000' }),
  LIMIT_CODES_PER_PHONE_ALL_HOUR: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'a whole number from 1 to 10000, at least LIMIT_CODES_PER_PHONE_HOUR' })),
  LIMIT_CODES_PER_PHONE_ALL_DAY: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'a whole number from 1 to 100000, at least LIMIT_CODES_PER_PHONE_DAY' })),
  LIMIT_NEW_DEVICES_PER_PHONE_DAY: Type.Integer({ minimum: 1, maximum: 1000, default: 3, description: 'a whole number from 1 to 1000' }),
  LIMIT_WRONG_CODES_PER_PHONE_DAY: Type.Integer({ minimum: 1, maximum: 10000, default: 10, description: 'a whole number from 1 to 10000' }),
  LIMIT_WRONG_CODES_PER_DEVICE_DAY: Type.Integer({ minimum: 1, maximum: 10000, default: 10, description: 'a whole number from 1 to 10000' }),
  LIMIT_CODES_PER_IP_HOUR: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10, description: 'a whole number from 1 to 1000000' }),
  LIMIT_WRONG_CODES_PER_IP_HOUR: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30, description: 'a whole number from 1 to 1000000' }),
  LIMIT_WRONG_INVITES_PER_USER_HOUR: Type.Integer({ minimum: 1, maximum: 10000, default: 10, description: 'a whole number from 1 to 10000' }),
  DEVICE_TOKEN_TTL_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 365, description: 'days from 1 to 3650' }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'at least 16 characters; GET /metrics then needs Authorization: Bearer <token>' })),
  METRICS_PUBLIC: Type.Boolean({ default: false, description: 'true or false (true: GET /metrics answers without a token in production too)' }),
  CORS_ORIGINS: Type.String({ pattern: '^(\\s*https?://[^/,\\s]+\\s*(,\\s*https?://[^/,\\s]+\\s*)*)?$', default: '', description: 'a comma-separated list of origins, e.g. https://app.example.com,http://localhost:5173 (scheme, host and port, no path; empty: no CORS)' }),
  SMS_CONSOLE_IN_PRODUCTION: Type.Boolean({ default: false, description: 'true or false (true: with SMS_PROVIDER=console in production, codes and full phone numbers are written to the log)' }),
  WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://.+', description: 'an http:// or https:// URL that receives the events' })),
  WEBHOOK_SECRET: Type.Optional(Type.String({ pattern: webhookSecretPattern, description: 'whsec_ and a base64 key of 24 to 64 bytes (a comma-separated list when rotating: each one signs)' })),
  WEBHOOK_EVENTS: Type.Optional(Type.String({ pattern: '^[a-z._]+(\\s*,\\s*[a-z._]+)*$', description: `a comma-separated list of event types from ${webhookEventTypes.join(', ')}` })),
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60000, default: 10000, description: 'milliseconds from 100 to 60000' }),
  WEBHOOK_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 365, default: 7, description: 'days from 1 to 365' }),
  WEBHOOK_BACKLOG_ALERT_SECONDS: Type.Integer({ minimum: 60, maximum: 604800, default: 3600, description: 'seconds from 60 to 604800' }),
  SMS_WEBHOOK_SECRET: Type.Optional(Type.String({ pattern: webhookSecretPattern, description: 'whsec_ and a base64 key of 24 to 64 bytes (a comma-separated list when rotating: each one signs)' })),
  PHONEPASS_ADMIN_KEYS: Type.String({ default: '', description: 'a comma-separated list of name:secret pairs (a name of letters, digits, dot, dash or underscore; a secret of at least 32 characters), e.g. support:$(openssl rand -base64 32)' }),
  ADMIN_PHONES: Type.String({ default: '', description: 'a comma-separated list of phone numbers, e.g. +79123456789,+447911123456' }),
  // Admin access (issue 22): how long an admin's sign-in opens the admin pages, how recent a
  // code must be for a destructive action, and where admins may come from.
  ADMIN_SESSION_HOURS: Type.Integer({ minimum: 1, maximum: 24, default: 8, description: 'hours from 1 to 24' }),
  ADMIN_PROOF_MINUTES: Type.Integer({ minimum: 1, maximum: 60, default: 5, description: 'minutes from 1 to 60' }),
  ADMIN_ALLOWED_NETWORKS: Type.String({ default: '', description: 'a comma-separated list of CIDR ranges or addresses, IPv4 or IPv6, e.g. 10.0.0.0/8,2001:db8::/32; empty: anywhere' }),
  // The fraud guard (services/fraud-guard.ts, docs/OPERATIONS.md "The fraud guard").
  FRAUD_GUARD: Type.Union([Type.Literal('enforce'), Type.Literal('audit'), Type.Literal('off')], { default: 'enforce', description: 'one of enforce, audit, off' }),
  FRAUD_PREFIX_DIGITS: Type.Integer({ minimum: 1, maximum: 8, default: 4, description: 'a whole number of trailing digits from 1 to 8 left out of a number to make its prefix (4: blocks of 10,000 numbers)' }),
  FRAUD_WINDOW_MINUTES: Type.Integer({ minimum: 10, maximum: 1440, default: 60, description: 'minutes from 10 to 1440' }),
  FRAUD_MIN_SENDS_PREFIX: Type.Integer({ minimum: 1, maximum: 100000, default: 10, description: 'a whole number from 1 to 100000' }),
  FRAUD_MIN_SENDS_COUNTRY: Type.Integer({ minimum: 1, maximum: 1000000, default: 30, description: 'a whole number from 1 to 1000000' }),
  FRAUD_MIN_ENTERED_PERCENT: Type.Integer({ minimum: 0, maximum: 100, default: 30, description: 'a percentage from 0 to 100' }),
  FRAUD_RATE_FACTOR: Type.Integer({ minimum: 2, maximum: 1000, default: 10, description: 'a whole number from 2 to 1000' }),
  FRAUD_BASELINE_DAYS: Type.Integer({ minimum: 1, maximum: 28, default: 7, description: 'days from 1 to 28' }),
  FRAUD_CHALLENGE_MAX_NUMBER: Type.Integer({ minimum: 1000, maximum: 10_000_000, default: 50_000, description: 'a whole number from 1000 to 10000000 (the proof of work\'s difficulty)' }),
  FRAUD_CHALLENGE_TTL_SECONDS: Type.Integer({ minimum: 30, maximum: 3600, default: 300, description: 'seconds from 30 to 3600' }),
  FRAUD_COOLING_MIN_SOLVED: Type.Integer({ minimum: 1, maximum: 100000, default: 5, description: 'a whole number from 1 to 100000' }),
  FRAUD_COOLING_MINUTES: Type.Integer({ minimum: 1, maximum: 10080, default: 60, description: 'minutes from 1 to 10080' }),
  FRAUD_SUSPECT_CAP_PERCENT: Type.Integer({ minimum: 0, maximum: 100, default: 5, description: 'a percentage of SMS_HOURLY_CAP from 0 to 100' }),
  FRAUD_RESERVED_CAP_PERCENT: Type.Integer({ minimum: 0, maximum: 90, default: 20, description: 'a percentage of SMS_HOURLY_CAP from 0 to 90' }),
  FRAUD_CHALLENGE: Type.Union([Type.Literal('altcha'), Type.Literal('turnstile'), Type.Literal('hcaptcha')], { default: 'altcha', description: 'one of altcha, turnstile, hcaptcha' }),
  CAPTCHA_SITE_KEY: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_.-]+$', description: 'the provider\'s site key (letters, digits, dots, dashes, underscores)' })),
  CAPTCHA_SECRET: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'the provider\'s secret key' })),
  CAPTCHA_VERIFY_URL: Type.Optional(Type.String({ pattern: '^https?://.+', description: 'an http:// or https:// URL' })),
  CAPTCHA_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 30_000, default: 5000, description: 'milliseconds from 100 to 30000' }),
  // Passkeys (issue 24): the WebAuthn relying party, the app links, the admin's second factor.
  PASSKEY_RP_ID: Type.Optional(Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$', maxLength: 253, description: 'the site\'s domain, lower case, e.g. auth.example.com (the passkeys are bound to it for good)' })),
  PASSKEY_RP_NAME: Type.String({ minLength: 1, maxLength: 64, default: 'phonepass', description: 'the name an authenticator shows, 1 to 64 characters' }),
  PASSKEY_ORIGINS: Type.String({ pattern: '^(\\s*(https?://[^/,\\s]+|android:apk-key-hash:[A-Za-z0-9_-]{43})\\s*(,\\s*(https?://[^/,\\s]+|android:apk-key-hash:[A-Za-z0-9_-]{43})\\s*)*)?$', default: '', description: 'a comma-separated list of origins, e.g. https://auth.example.com,android:apk-key-hash:<base64url SHA-256 of the signing certificate>' }),
  PASSKEY_FRESH_MINUTES: Type.Integer({ minimum: 1, maximum: 30, default: 5, description: 'minutes from 1 to 30' }),
  LIMIT_PASSKEY_OPTIONS_PER_IP_HOUR: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 60, description: 'a whole number from 1 to 1000000' }),
  ADMIN_PASSKEY: Type.Optional(Type.Union([Type.Literal('required'), Type.Literal('optional')], { description: 'one of required, optional (default: required with NODE_ENV=production)' })),
  APPLE_APP_IDS: Type.String({ pattern: '^(\\s*[A-Z0-9]{10}\\.[A-Za-z0-9.-]+\\s*(,\\s*[A-Z0-9]{10}\\.[A-Za-z0-9.-]+\\s*)*)?$', default: '', description: 'a comma-separated list of TEAMID.bundle.id, e.g. ABCDE12345.com.example.app' }),
  ANDROID_APP_LINKS: Type.String({ pattern: '^(\\s*[A-Za-z0-9_.]+=[0-9A-F]{2}(:[0-9A-F]{2}){31}\\s*(,\\s*[A-Za-z0-9_.]+=[0-9A-F]{2}(:[0-9A-F]{2}){31}\\s*)*)?$', default: '', description: 'a comma-separated list of package=SHA-256 fingerprint of the signing certificate, e.g. com.example.app=AB:CD:…(32 pairs)' }),
  // The channels of codes (issue 25: WhatsApp, voice, receipts; channels/settings.ts).
  ...ChannelEnvSchema,
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(level => Type.Literal(level)), { default: 'info', description: 'one of fatal, error, warn, info, debug, trace, silent' })
})

type Env = Static<typeof EnvSchema>

export interface Config {
  readonly nodeEnv: Env['NODE_ENV']
  readonly port: number
  readonly host: string
  /** WEB_CONCURRENCY: processes serving the port; above 1, a cluster primary forks them (ops/cluster.ts). */
  readonly workers: number
  readonly databaseUrl: string
  /** PostgreSQL only: connections this instance keeps at most, and PGSSLMODE when the URL has no sslmode. */
  readonly databasePoolSize: number
  readonly pgSslMode: string | undefined
  /** How long a write waits for a lock another connection holds (SQLite's busy timeout, PostgreSQL's lock_timeout), then 503. */
  readonly databaseLockTimeoutMs: number
  /** PostgreSQL only: the longest a statement may run (statement_timeout), then 503. */
  readonly databaseStatementTimeoutMs: number
  /** The first signs and encrypts; all of them verify, so a rotation signs no one out. */
  readonly secrets: readonly string[]
  readonly sms: {
    readonly provider: Env['SMS_PROVIDER']
    readonly webhookUrl: string | undefined
    readonly timeoutMs: number
    /** Sends waiting on the provider at once; more are refused at once (503), so a hanging provider cannot pile them up. */
    readonly maxInFlight: number
    readonly twilio: TwilioConfig | undefined
    /** ISO 3166 codes SMS may go to; empty: every country. */
    readonly allowedCountries: readonly CountryCode[]
    readonly hourlyCap: number
    /** SMS_WEBHOOK_SECRET: the webhook provider signs its POSTs (Standard Webhooks) with each. */
    readonly webhookSecrets: readonly string[]
  }
  /** Outgoing events; undefined when WEBHOOK_URL is not set. */
  readonly webhooks: WebhooksConfig | undefined
  readonly limits: LimitsConfig
  readonly deviceTokenTtlDays: number
  readonly otp: {
    readonly length: number
    readonly ttlSeconds: number
    readonly maxAttempts: number
    readonly resendSeconds: number
  }
  /** E.164 → fixed code: no SMS is sent (app-store review, Postman, demos). */
  readonly testPhoneNumbers: ReadonlyMap<string, string>
  readonly phoneDefaultCountry: CountryCode
  readonly trustProxy: TrustProxy
  readonly accessTokenTtlSeconds: number
  /** How access tokens are signed; the keys themselves live in the database (services/signing-keys.ts). */
  readonly jwt: {
    readonly algorithm: 'ES256' | 'RS256' | 'EdDSA' | 'HS256'
    readonly issuer: string | undefined
    readonly audience: string | undefined
    /** A new key is published this long before it signs. */
    readonly publishLeadSeconds: number
    /** 0: keys rotate only when the operator says. */
    readonly rotationDays: number
  }
  readonly sessionTtlDays: number
  /** What is deleted when (services/retention.ts): ended sessions and spent login codes, in batches. */
  readonly retention: {
    readonly sessionDays: number
    readonly loginCodeDays: number
    readonly batchSize: number
  }
  /**
   * A spent refresh token presented again within this many seconds of its spending is refused
   * without ending the session: an app's parallel refreshes, not a thief. Later, it ends it.
   */
  readonly refreshReuseGraceSeconds: number
  /** Most phones in a profile's users_invited; the rest are paged (GET /api/users/me/invited/). */
  readonly profileInvitedLimit: number
  readonly logLevel: string
  /** When set, /metrics asks for it as a bearer token. */
  readonly metricsToken: string | undefined
  /** Production without a token: /metrics answers only when the operator says it may (METRICS_PUBLIC). */
  readonly metricsPublic: boolean
  /** Origins (scheme://host[:port]) whose web apps may call the JSON API (CORS); empty: none. */
  readonly corsOrigins: readonly string[]
  /** The console provider writes codes and full phones to a production log only when this says so. */
  readonly smsConsoleInProduction: boolean
  /** PHONEPASS_ADMIN_KEYS: bearer secrets of the admin API (/api/admin/), each with a name for the audit log. */
  readonly fraudGuard: FraudGuardConfig
  readonly adminKeys: readonly AdminKey[]
  /** ADMIN_PHONES, in E.164: people who may use the admin pages once signed in. */
  readonly adminPhones: ReadonlySet<string>
  /** Admin access (issue 22). */
  readonly adminAccess: AdminAccess
  /** Passkeys (issue 24); undefined in production without PASSKEY_RP_ID: passkeys off. */
  readonly passkeys: PasskeyConfig | undefined
  /** The app links of /.well-known/ (iOS associated domains, Android asset links). */
  readonly appLinks: { readonly appleAppIds: readonly string[], readonly android: ReadonlyArray<{ packageName: string, fingerprint: string }> }
  /** How codes reach people: the channels' order and providers, receipts (issue 25). */
  readonly channels: ChannelSettings
}

export interface PasskeyConfig {
  readonly rpId: string
  readonly rpName: string
  /** PASSKEY_ORIGINS: where a ceremony may run (web origins and Android apps' apk-key-hash origins). */
  readonly origins: readonly string[]
  /** Outside production with no PASSKEY_ORIGINS: any http://localhost port (a developer's machine, the tests). */
  readonly anyLocalhostPort: boolean
  /** PASSKEY_FRESH_MINUTES: a sign-in at most this old (ms) may add a passkey without a new code. */
  readonly freshMs: number
  /** ADMIN_PASSKEY: the admin pages ask an admin for their passkey after the phone code. */
  readonly adminRequired: boolean
  readonly optionsPerIpHour: number
}

export interface AdminAccess {
  /** ADMIN_SESSION_HOURS: the admin pages need a sign-in at most this old (ms), whatever the session's own lifetime. */
  readonly sessionMs: number
  /** ADMIN_PROOF_MINUTES: a destructive action on the pages needs a code proved at most this long ago (ms). */
  readonly proofMs: number
  /** ADMIN_ALLOWED_NETWORKS: where the admin API and pages may be used from; undefined: anywhere. */
  readonly allowedNetworks: BlockList | undefined
}

/** The fraud guard's settings (services/fraud-guard.ts); shares and ratios as fractions. */
export interface FraudGuardConfig {
  readonly mode: 'enforce' | 'audit' | 'off'
  readonly prefixDigits: number
  readonly windowMs: number
  readonly minSendsPrefix: number
  readonly minSendsCountry: number
  readonly minEnteredRatio: number
  readonly rateFactor: number
  readonly baselineDays: number
  readonly challengeMaxNumber: number
  readonly challengeTtlSeconds: number
  readonly coolingMinSolved: number
  readonly coolingMs: number
  readonly suspectCapShare: number
  readonly reservedCapShare: number
  /** FRAUD_CHALLENGE: ALTCHA's proof of work (undefined), or a captcha provider's widget and siteverify. */
  readonly captcha: CaptchaConfig | undefined
}

/** A captcha provider in place of ALTCHA (services/captcha.ts). */
export interface CaptchaConfig extends CaptchaSettings {
  readonly siteKey: string
}

function parseCaptcha (env: Env): CaptchaConfig | undefined {
  const provider = env.FRAUD_CHALLENGE
  if (provider === 'altcha') return undefined
  if (env.CAPTCHA_SITE_KEY === undefined || env.CAPTCHA_SECRET === undefined) {
    throw new ConfigError(`Invalid configuration: CAPTCHA_SITE_KEY and CAPTCHA_SECRET are required when FRAUD_CHALLENGE=${provider} (both from the provider's dashboard)`)
  }
  return {
    provider,
    siteKey: env.CAPTCHA_SITE_KEY,
    secret: env.CAPTCHA_SECRET,
    verifyUrl: env.CAPTCHA_VERIFY_URL ?? captchaVerifyUrls[provider],
    timeoutMs: env.CAPTCHA_TIMEOUT_MS
  }
}

/** One admin key: the name is what the audit log says; the secret is never logged. */
export interface AdminKey {
  readonly name: string
  readonly secret: string
}

export interface TwilioConfig {
  readonly accountSid: string
  readonly authToken: string
  /** A sender number or ID, or a messaging service: Twilio needs one of the two. */
  readonly from: string | undefined
  readonly messagingServiceSid: string | undefined
  readonly baseUrl: string
}

export interface WebhooksConfig {
  readonly url: string
  /** whsec_… secrets: each signs every request (a receiver accepts any one it knows). */
  readonly secrets: readonly string[]
  readonly events: ReadonlySet<WebhookEventType>
  readonly timeoutMs: number
  readonly retentionDays: number
  /** The oldest pending event older than this writes the alert line. */
  readonly backlogAlertSeconds: number
}

/** Abuse limits; every one is counted in the database (limit_counters), per fixed window. */
export interface LimitsConfig {
  /** Codes to a phone asked for by anyone without a device token of it (and by each such device on its own). */
  readonly codesPerPhoneHour: number
  readonly codesPerPhoneDay: number
  /** Codes to a phone however asked for: no number of devices, sign-ins or addresses lifts it. */
  readonly codesPerPhoneAllHour: number
  readonly codesPerPhoneAllDay: number
  /** Device identities (own budgets) a phone collects a day; later sign-ins share one. */
  readonly newDevicesPerPhoneDay: number
  readonly wrongCodesPerPhoneDay: number
  readonly wrongCodesPerDeviceDay: number
  readonly codesPerIpHour: number
  readonly wrongCodesPerIpHour: number
  readonly wrongInvitesPerUserHour: number
}

/**
 * The relying party and its origins. Every web origin must be the RP ID or a subdomain of it,
 * over https (http only for localhost); a passkey made for another domain is of no use here,
 * and one made here would fail on a domain outside. In production: passkeys are off without
 * PASSKEY_RP_ID, and need PASSKEY_ORIGINS with it; localhost is refused.
 */
function parsePasskeys (env: Env): PasskeyConfig | undefined {
  const production = env.NODE_ENV === 'production'
  const adminRequired = (env.ADMIN_PASSKEY ?? (production ? 'required' : 'optional')) === 'required'
  const origins = env.PASSKEY_ORIGINS.split(',').map(origin => origin.trim()).filter(origin => origin !== '')
  if (production && env.PASSKEY_RP_ID === undefined) {
    if (origins.length > 0) throw new ConfigError('Invalid configuration: PASSKEY_ORIGINS needs PASSKEY_RP_ID, the domain the passkeys are bound to, e.g. auth.example.com')
    if (adminRequired && env.ADMIN_PHONES.trim() !== '') {
      throw new ConfigError('Invalid configuration: ADMIN_PHONES with NODE_ENV=production asks each admin for a passkey (ADMIN_PASSKEY=required): set PASSKEY_RP_ID and PASSKEY_ORIGINS, or ADMIN_PASSKEY=optional')
    }
    return undefined
  }
  const rpId = env.PASSKEY_RP_ID ?? 'localhost'
  if (production && rpId === 'localhost') throw new ConfigError('Invalid configuration: PASSKEY_RP_ID must be the site\'s domain with NODE_ENV=production, not localhost')
  if (production && origins.length === 0) throw new ConfigError(`Invalid configuration: PASSKEY_ORIGINS is required with PASSKEY_RP_ID when NODE_ENV=production, e.g. https://${rpId}`)
  for (const origin of origins) {
    if (origin.startsWith('android:')) continue
    const url = URL.canParse(origin) ? new URL(origin) : undefined
    const host = url?.hostname ?? ''
    const local = host === 'localhost'
    const consistent = url !== undefined && url.origin === origin && (host === rpId || host.endsWith(`.${rpId}`)) &&
      (url.protocol === 'https:' || (local && !production))
    if (!consistent) {
      throw new ConfigError(`Invalid configuration: PASSKEY_ORIGINS has ${JSON.stringify(origin)}, which is not an https origin of PASSKEY_RP_ID ${JSON.stringify(rpId)} or a subdomain of it`)
    }
  }
  return {
    rpId,
    rpName: env.PASSKEY_RP_NAME,
    origins,
    anyLocalhostPort: !production && rpId === 'localhost' && origins.length === 0,
    freshMs: env.PASSKEY_FRESH_MINUTES * 60_000,
    adminRequired,
    optionsPerIpHour: env.LIMIT_PASSKEY_OPTIONS_PER_IP_HOUR
  }
}

function parseAppLinks (env: Env): Config['appLinks'] {
  const list = (value: string) => value.split(',').map(item => item.trim()).filter(item => item !== '')
  return {
    appleAppIds: list(env.APPLE_APP_IDS),
    android: list(env.ANDROID_APP_LINKS).map(item => {
      const [packageName = '', fingerprint = ''] = item.split('=')
      return { packageName, fingerprint }
    })
  }
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const secretVariables = new Set(['PHONEPASS_SECRET', 'TWILIO_AUTH_TOKEN', 'METRICS_TOKEN', 'WEBHOOK_SECRET', 'SMS_WEBHOOK_SECRET', 'PHONEPASS_ADMIN_KEYS', 'CAPTCHA_SECRET', 'WHATSAPP_TOKEN', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN'])

const schemaProperties = EnvSchema.properties as Record<string, { description?: string }>

function explain (error: unknown, env: NodeJS.ProcessEnv): ConfigError {
  const first = (error as { errors?: Array<{ instancePath: string, params?: { missingProperty?: string } }> }).errors?.[0]
  const variable = first?.instancePath.replace(/^\//, '') || first?.params?.missingProperty
  if (variable === undefined) return new ConfigError(`Invalid configuration: ${String(error)}`)
  const expected = schemaProperties[variable]?.description ?? 'a valid value'
  // A URL's password is a secret too (DATABASE_URL, SMS_WEBHOOK_URL, WEBHOOK_URL, ...).
  const shown = secretVariables.has(variable) ? '(hidden)' : JSON.stringify(redactUrl(env[variable] ?? ''))
  return new ConfigError(`Invalid configuration: ${variable} must be ${expected}, got ${shown}`)
}

function parseTestPhoneNumbers (value: string, otpLength: number): Map<string, string> {
  const numbers = new Map<string, string>()
  for (const pair of value.split(',').map(p => p.trim()).filter(p => p !== '')) {
    const [phone = '', code = ''] = pair.split('=')
    if (code.length !== otpLength) {
      throw new ConfigError(`Invalid configuration: TEST_PHONE_NUMBERS code for ${phone} must have OTP_LENGTH (${otpLength}) digits`)
    }
    numbers.set(phone, code)
  }
  return numbers
}

function parseTwilio (env: Env): TwilioConfig | undefined {
  if (env.SMS_PROVIDER !== 'twilio') return undefined
  if (env.TWILIO_ACCOUNT_SID === undefined || env.TWILIO_AUTH_TOKEN === undefined) {
    throw new ConfigError('Invalid configuration: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required when SMS_PROVIDER=twilio')
  }
  if (env.TWILIO_FROM === undefined && env.TWILIO_MESSAGING_SERVICE_SID === undefined) {
    throw new ConfigError('Invalid configuration: TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID is required when SMS_PROVIDER=twilio')
  }
  return {
    accountSid: env.TWILIO_ACCOUNT_SID,
    authToken: env.TWILIO_AUTH_TOKEN,
    from: env.TWILIO_FROM,
    messagingServiceSid: env.TWILIO_MESSAGING_SERVICE_SID,
    baseUrl: env.TWILIO_BASE_URL
  }
}

function parseAllowedCountries (value: string): CountryCode[] {
  const countries = value.split(',').map(c => c.trim()).filter(c => c !== '') as CountryCode[]
  const known = getCountries()
  for (const country of countries) {
    if (!known.includes(country)) {
      throw new ConfigError(`Invalid configuration: SMS_ALLOWED_COUNTRIES must list ISO 3166 country codes such as RU or GB, got ${JSON.stringify(country)}`)
    }
  }
  return countries
}

function parseWebhooks (env: Env): WebhooksConfig | undefined {
  if (env.WEBHOOK_URL === undefined) return undefined
  if (env.WEBHOOK_SECRET === undefined) {
    throw new ConfigError('Invalid configuration: WEBHOOK_SECRET is required when WEBHOOK_URL is set (whsec_ and a base64 key, e.g. whsec_$(openssl rand -base64 32))')
  }
  const named = env.WEBHOOK_EVENTS?.split(',').map(type => type.trim()) ?? defaultWebhookEvents
  for (const type of named) {
    if (!(webhookEventTypes as readonly string[]).includes(type)) {
      throw new ConfigError(`Invalid configuration: WEBHOOK_EVENTS must be a comma-separated list of event types from ${webhookEventTypes.join(', ')}, got ${JSON.stringify(type)}`)
    }
  }
  return {
    url: env.WEBHOOK_URL,
    secrets: env.WEBHOOK_SECRET.split(','),
    events: new Set(named as WebhookEventType[]),
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    retentionDays: env.WEBHOOK_RETENTION_DAYS,
    backlogAlertSeconds: env.WEBHOOK_BACKLOG_ALERT_SECONDS
  }
}

/**
 * The phone-wide ceiling: by default twice the quota of a sender without a device token, so the
 * owner's device still has room after a stranger spent that quota. Below the quota it would
 * quietly lower the documented limit, so it is refused.
 */
function phoneCeiling (ceiling: number | undefined, quota: number, name: string, quotaName: string): number {
  if (ceiling === undefined) return 2 * quota
  if (ceiling < quota) throw new ConfigError(`Invalid configuration: ${name} must be at least ${quotaName} (${quota}), got ${ceiling}`)
  return ceiling
}

/** An address or CIDR range as people write them (proxy-addr alone would take "1" for 0.0.0.1). */
function isAddressOrRange (entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  if (prefix === undefined) return true
  return /^[0-9]{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)
}

function parseTrustProxy (value: string): TrustProxy {
  const setting = value.trim()
  if (setting === '' || setting === 'false') return { kind: 'none' }
  if (setting === 'true') return { kind: 'all' }
  if (/^[0-9]+$/.test(setting)) {
    const hops = Number(setting)
    // The operator wrote a number, so meant some proxy: 0 would silently trust none.
    if (hops === 0) throw new ConfigError('Invalid configuration: TRUST_PROXY=0 trusts no proxy; write false for none, or the number of proxies in front (1 on Heroku, 2 on Render and Fly)')
    return { kind: 'hops', hops }
  }
  const addresses = setting.split(',').map(entry => entry.trim()).filter(entry => entry !== '')
  for (const address of addresses) {
    if (!isAddressOrRange(address)) {
      throw new ConfigError(`Invalid configuration: TRUST_PROXY must list IP addresses or CIDR ranges such as 10.0.0.0/8, got ${JSON.stringify(address)}`)
    }
  }
  return { kind: 'addresses', addresses }
}

const adminKeyName = /^[A-Za-z0-9._-]{1,40}$/
const adminKeyMinLength = 32

/**
 * PHONEPASS_ADMIN_KEYS: `name:secret` pairs, so the audit log can say which key acted without
 * ever holding the secret. A list, so a new key can be added before the old one is removed.
 * Messages name the entry by its position or name, never by its secret.
 */
function parseAdminKeys (value: string): AdminKey[] {
  const keys: AdminKey[] = []
  const entries = value.split(',').map(entry => entry.trim())
  if (entries.length === 1 && entries[0] === '') return keys
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(':')
    const name = colon < 0 ? '' : entry.slice(0, colon)
    const secret = colon < 0 ? '' : entry.slice(colon + 1)
    if (!adminKeyName.test(name) || secret === '') {
      throw new ConfigError(`Invalid configuration: PHONEPASS_ADMIN_KEYS entry ${index + 1} must be name:secret, a name of 1 to 40 letters, digits, dots, dashes or underscores, e.g. support:$(openssl rand -base64 32)`)
    }
    if (secret.length < adminKeyMinLength || /\s/.test(secret)) {
      throw new ConfigError(`Invalid configuration: PHONEPASS_ADMIN_KEYS key ${JSON.stringify(name)} must have a secret of at least ${adminKeyMinLength} characters without spaces, e.g. from \`openssl rand -base64 32\``)
    }
    if (keys.some(key => key.name === name)) {
      throw new ConfigError(`Invalid configuration: PHONEPASS_ADMIN_KEYS names the key ${JSON.stringify(name)} twice; each key needs a name of its own (the audit log tells them apart by it)`)
    }
    if (keys.some(key => key.secret === secret)) {
      throw new ConfigError(`Invalid configuration: PHONEPASS_ADMIN_KEYS gives the key ${JSON.stringify(name)} the secret of another key; each key needs a secret of its own`)
    }
    keys.push({ name, secret })
  })
  return keys
}

/**
 * ADMIN_ALLOWED_NETWORKS: CIDR ranges (or single addresses), IPv4 and IPv6, in node's BlockList
 * (which also matches an IPv4-mapped IPv6 client against an IPv4 range). Empty: anywhere.
 */
function parseAllowedNetworks (value: string): BlockList | undefined {
  const entries = value.split(',').map(entry => entry.trim()).filter(entry => entry !== '')
  if (entries.length === 0) return undefined
  const list = new BlockList()
  for (const entry of entries) {
    if (!isAddressOrRange(entry)) {
      throw new ConfigError(`Invalid configuration: ADMIN_ALLOWED_NETWORKS must list CIDR ranges or addresses such as 10.0.0.0/8 or 2001:db8::/32, got ${JSON.stringify(entry)}`)
    }
    const [address = '', prefix] = entry.split('/')
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6'
    if (prefix === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(prefix), type)
  }
  return list
}

/** ADMIN_PHONES: normalised as any phone typed on the sign-in page, so the admin's sign-in matches. */
function parseAdminPhones (value: string, country: CountryCode, testPhoneNumbers: ReadonlyMap<string, string>): Set<string> {
  const phones = new Set<string>()
  for (const entry of value.split(',').map(phone => phone.trim()).filter(phone => phone !== '')) {
    try {
      phones.add(normalizePhone(entry, { defaultCountry: country, isTestNumber: phone => testPhoneNumbers.has(phone) }))
    } catch {
      throw new ConfigError(`Invalid configuration: ADMIN_PHONES must list phone numbers, e.g. +79123456789,+447911123456, got ${JSON.stringify(entry)}`)
    }
  }
  return phones
}

interface SecretToCheck {
  readonly variable: string
  /** Where a good value comes from, for the line. */
  readonly remedy: string
  readonly values: ReadonlyArray<{ value: string, label: string }>
}

/** Every variable that holds a secret, with its values as set (unused ones too). */
function secretsToCheck (env: Env): SecretToCheck[] {
  const one = (value: string | undefined): Array<{ value: string, label: string }> => value === undefined ? [] : [{ value, label: '' }]
  // A list names its entry by position; the whsec_ prefix is no part of the key.
  const list = (value: string | undefined, prefix = ''): Array<{ value: string, label: string }> => {
    const entries = value?.split(',') ?? []
    return entries.map((entry, index) => ({ value: entry.slice(prefix.length), label: entries.length > 1 ? ` entry ${index + 1}` : '' }))
  }
  const openssl = (command: string): string => `a random secret, e.g. from \`${command}\``
  return [
    { variable: 'PHONEPASS_SECRET', remedy: openssl('openssl rand -base64 32'), values: list(env.PHONEPASS_SECRET) },
    {
      variable: 'PHONEPASS_ADMIN_KEYS',
      remedy: openssl('openssl rand -base64 32'),
      values: parseAdminKeys(env.PHONEPASS_ADMIN_KEYS).map(key => ({ value: key.secret, label: ` key ${JSON.stringify(key.name)}` }))
    },
    { variable: 'METRICS_TOKEN', remedy: openssl('openssl rand -base64 24'), values: one(env.METRICS_TOKEN) },
    { variable: 'WEBHOOK_SECRET', remedy: 'whsec_ and a random key, e.g. whsec_$(openssl rand -base64 32)', values: list(env.WEBHOOK_SECRET, 'whsec_') },
    { variable: 'SMS_WEBHOOK_SECRET', remedy: 'whsec_ and a random key, e.g. whsec_$(openssl rand -base64 32)', values: list(env.SMS_WEBHOOK_SECRET, 'whsec_') },
    { variable: 'TWILIO_AUTH_TOKEN', remedy: 'the auth token (or an API key secret) Twilio gave', values: one(env.TWILIO_AUTH_TOKEN) },
    { variable: 'WHATSAPP_APP_SECRET', remedy: 'the app secret Meta gave', values: one(env.WHATSAPP_APP_SECRET) },
    { variable: 'WHATSAPP_VERIFY_TOKEN', remedy: openssl('openssl rand -base64 24'), values: one(env.WHATSAPP_VERIFY_TOKEN) }
  ]
}

/**
 * Production refuses a secret anyone could guess: a demo value from this repository or one a
 * person typed (secret-strength.ts), as it refuses a missing one. The line names the variable
 * (and the admin key's name, or the entry of a list), never the value.
 */
function refuseWeakSecrets (env: Env): void {
  for (const { variable, remedy, values } of secretsToCheck(env)) {
    for (const { value, label } of values) {
      const weakness = secretWeakness(value)
      if (weakness !== undefined) {
        throw new ConfigError(`Invalid configuration: ${variable}${label} ${weakness}; with NODE_ENV=production it must be ${remedy}`)
      }
    }
  }
}

/**
 * In development a missing secret is generated once and kept beside the SQLite file, so a
 * restart keeps everyone signed in. Production refuses to start without one.
 */
function resolveSecrets (env: Env): string[] {
  if (env.PHONEPASS_SECRET !== undefined) return env.PHONEPASS_SECRET.split(',')
  if (env.NODE_ENV === 'production') {
    throw new ConfigError('Invalid configuration: PHONEPASS_SECRET is required when NODE_ENV=production (at least 32 characters, e.g. from `openssl rand -base64 32`)')
  }
  const sqliteFile = env.DATABASE_URL.startsWith('sqlite:') ? env.DATABASE_URL.slice('sqlite:'.length) : undefined
  if (sqliteFile === undefined || sqliteFile === ':memory:') return [randomBytes(32).toString('base64url')]
  const secretFile = join(dirname(sqliteFile), '.phonepass-secret')
  try {
    return [readFileSync(secretFile, 'utf8').trim()]
  } catch {
    const secret = randomBytes(32).toString('base64url')
    mkdirSync(dirname(secretFile), { recursive: true })
    writeFileSync(secretFile, secret + '\n', { mode: 0o600 })
    return [secret]
  }
}

export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  let parsed: Env
  try {
    parsed = envSchema<Env>({ schema: EnvSchema, data: { ...env }, dotenv: false })
  } catch (error) {
    throw explain(error, env)
  }
  if (parsed.SMS_PROVIDER === 'webhook' && parsed.SMS_WEBHOOK_URL === undefined) {
    throw new ConfigError('Invalid configuration: SMS_WEBHOOK_URL is required when SMS_PROVIDER=webhook')
  }
  if (/^postgres(ql)?:/.test(parsed.DATABASE_URL) && !URL.canParse(parsed.DATABASE_URL)) {
    // Refused here: opening the database would fail with the URL parser's error, which prints the URL, password and all.
    throw new ConfigError(`Invalid configuration: DATABASE_URL must be ${schemaProperties.DATABASE_URL?.description ?? 'a URL'}, got ${JSON.stringify(redactUrl(parsed.DATABASE_URL))}`)
  }
  if (parsed.WEB_CONCURRENCY > 1 && parsed.DATABASE_URL === 'sqlite::memory:') {
    // Each worker would have a database of its own: limits, codes and sessions split in N.
    throw new ConfigError('Invalid configuration: WEB_CONCURRENCY above 1 needs a database the workers share: DATABASE_URL=sqlite:<file> or postgres://…, not sqlite::memory:')
  }
  const country = parsed.PHONE_DEFAULT_COUNTRY as CountryCode
  if (!getCountries().includes(country)) {
    throw new ConfigError(`Invalid configuration: PHONE_DEFAULT_COUNTRY must be an ISO 3166 country code such as RU or GB, got ${JSON.stringify(country)}`)
  }
  const testPhoneNumbers = parseTestPhoneNumbers(parsed.TEST_PHONE_NUMBERS, parsed.OTP_LENGTH)
  if (parsed.NODE_ENV === 'production') refuseWeakSecrets(parsed)
  return Object.freeze({
    nodeEnv: parsed.NODE_ENV,
    port: parsed.PORT,
    host: parsed.HOST,
    workers: parsed.WEB_CONCURRENCY,
    databaseUrl: parsed.DATABASE_URL,
    databasePoolSize: parsed.DATABASE_POOL_SIZE,
    pgSslMode: parsed.PGSSLMODE,
    databaseLockTimeoutMs: parsed.DATABASE_LOCK_TIMEOUT_MS,
    databaseStatementTimeoutMs: parsed.DATABASE_STATEMENT_TIMEOUT_MS,
    secrets: resolveSecrets(parsed),
    sms: {
      provider: parsed.SMS_PROVIDER,
      webhookUrl: parsed.SMS_WEBHOOK_URL,
      timeoutMs: parsed.SMS_TIMEOUT_MS,
      maxInFlight: parsed.SMS_MAX_IN_FLIGHT,
      twilio: parseTwilio(parsed),
      allowedCountries: parseAllowedCountries(parsed.SMS_ALLOWED_COUNTRIES),
      hourlyCap: parsed.SMS_HOURLY_CAP,
      webhookSecrets: parsed.SMS_WEBHOOK_SECRET?.split(',') ?? []
    },
    webhooks: parseWebhooks(parsed),
    limits: {
      codesPerPhoneHour: parsed.LIMIT_CODES_PER_PHONE_HOUR,
      codesPerPhoneDay: parsed.LIMIT_CODES_PER_PHONE_DAY,
      codesPerPhoneAllHour: phoneCeiling(parsed.LIMIT_CODES_PER_PHONE_ALL_HOUR, parsed.LIMIT_CODES_PER_PHONE_HOUR, 'LIMIT_CODES_PER_PHONE_ALL_HOUR', 'LIMIT_CODES_PER_PHONE_HOUR'),
      codesPerPhoneAllDay: phoneCeiling(parsed.LIMIT_CODES_PER_PHONE_ALL_DAY, parsed.LIMIT_CODES_PER_PHONE_DAY, 'LIMIT_CODES_PER_PHONE_ALL_DAY', 'LIMIT_CODES_PER_PHONE_DAY'),
      newDevicesPerPhoneDay: parsed.LIMIT_NEW_DEVICES_PER_PHONE_DAY,
      wrongCodesPerPhoneDay: parsed.LIMIT_WRONG_CODES_PER_PHONE_DAY,
      wrongCodesPerDeviceDay: parsed.LIMIT_WRONG_CODES_PER_DEVICE_DAY,
      codesPerIpHour: parsed.LIMIT_CODES_PER_IP_HOUR,
      wrongCodesPerIpHour: parsed.LIMIT_WRONG_CODES_PER_IP_HOUR,
      wrongInvitesPerUserHour: parsed.LIMIT_WRONG_INVITES_PER_USER_HOUR
    },
    deviceTokenTtlDays: parsed.DEVICE_TOKEN_TTL_DAYS,
    otp: {
      length: parsed.OTP_LENGTH,
      ttlSeconds: parsed.OTP_TTL_SECONDS,
      maxAttempts: parsed.OTP_MAX_ATTEMPTS,
      resendSeconds: parsed.OTP_RESEND_SECONDS
    },
    testPhoneNumbers,
    phoneDefaultCountry: country,
    trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
    accessTokenTtlSeconds: parsed.ACCESS_TOKEN_TTL_SECONDS,
    jwt: {
      algorithm: parsed.JWT_ALGORITHM as Config['jwt']['algorithm'],
      issuer: parsed.JWT_ISSUER,
      audience: parsed.JWT_AUDIENCE,
      publishLeadSeconds: parsed.JWT_KEY_PUBLISH_LEAD_SECONDS,
      rotationDays: parsed.JWT_KEY_ROTATION_DAYS
    },
    sessionTtlDays: parsed.SESSION_TTL_DAYS,
    retention: { sessionDays: parsed.RETENTION_SESSION_DAYS, loginCodeDays: parsed.RETENTION_LOGIN_CODE_DAYS, batchSize: parsed.RETENTION_BATCH_SIZE },
    refreshReuseGraceSeconds: parsed.REFRESH_REUSE_GRACE_SECONDS,
    profileInvitedLimit: parsed.PROFILE_INVITED_LIMIT,
    logLevel: parsed.LOG_LEVEL,
    metricsToken: parsed.METRICS_TOKEN,
    metricsPublic: parsed.METRICS_PUBLIC,
    corsOrigins: parsed.CORS_ORIGINS.split(',').map(origin => origin.trim()).filter(origin => origin !== ''),
    smsConsoleInProduction: parsed.SMS_CONSOLE_IN_PRODUCTION,
    fraudGuard: {
      mode: parsed.FRAUD_GUARD,
      prefixDigits: parsed.FRAUD_PREFIX_DIGITS,
      windowMs: parsed.FRAUD_WINDOW_MINUTES * 60_000,
      minSendsPrefix: parsed.FRAUD_MIN_SENDS_PREFIX,
      minSendsCountry: parsed.FRAUD_MIN_SENDS_COUNTRY,
      minEnteredRatio: parsed.FRAUD_MIN_ENTERED_PERCENT / 100,
      rateFactor: parsed.FRAUD_RATE_FACTOR,
      baselineDays: parsed.FRAUD_BASELINE_DAYS,
      challengeMaxNumber: parsed.FRAUD_CHALLENGE_MAX_NUMBER,
      challengeTtlSeconds: parsed.FRAUD_CHALLENGE_TTL_SECONDS,
      coolingMinSolved: parsed.FRAUD_COOLING_MIN_SOLVED,
      coolingMs: parsed.FRAUD_COOLING_MINUTES * 60_000,
      suspectCapShare: parsed.FRAUD_SUSPECT_CAP_PERCENT / 100,
      reservedCapShare: parsed.FRAUD_RESERVED_CAP_PERCENT / 100,
      captcha: parseCaptcha(parsed)
    },
    adminKeys: parseAdminKeys(parsed.PHONEPASS_ADMIN_KEYS),
    adminPhones: parseAdminPhones(parsed.ADMIN_PHONES, country, testPhoneNumbers),
    adminAccess: {
      sessionMs: parsed.ADMIN_SESSION_HOURS * 3_600_000,
      proofMs: parsed.ADMIN_PROOF_MINUTES * 60_000,
      allowedNetworks: parseAllowedNetworks(parsed.ADMIN_ALLOWED_NETWORKS)
    },
    passkeys: parsePasskeys(parsed),
    appLinks: parseAppLinks(parsed),
    channels: parseChannels(parsed)
  })
}

function parseChannels (env: Env): ChannelSettings {
  try {
    return parseChannelSettings(env)
  } catch (error) {
    if (error instanceof ChannelSettingsError) throw new ConfigError(`Invalid configuration: ${error.message}`)
    throw error
  }
}
