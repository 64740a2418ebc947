import type { Generated, Insertable, Selectable } from 'kysely'

// Times are epoch milliseconds on both dialects.

export interface UsersTable {
  id: Generated<number>
  phone: string
  invite_code: string
  invited_by: number | null
  invited_at: number | null
  created_at: number
  /** Set by an operator (`phonepass user block`): no sign-in, no session, until unblocked. */
  blocked_at: number | null
  blocked_reason: string | null
  /** Set when the person deleted the account: the row is a tombstone, its phone `#<id>`. */
  deleted_at: number | null
}

/** Keyed hashes (services/keys.ts `hashPhone`) of deleted accounts' phones. */
export interface DeletedPhonesTable {
  phone_hash: string
  /** The last deletion: device tokens issued before it are not the next account's. */
  deleted_at: number
  /** 1 when a deleted account of this phone had activated an invite code: kept for good. */
  had_activated: Generated<number>
}

export interface LoginCodesTable {
  phone: string
  code_hash: string
  attempts: Generated<number>
  created_at: number
  expires_at: number
  ip: string | null
  /** When the code signed someone in; the row stays, so the time it was sent still spaces the next. */
  spent_at: number | null
  /** The send this code went out in (messages.send_id); null for a code from before migration 0014. */
  send_id: Generated<string | null>
  /** The channel a receipt said did not bring this code: the next may go at once by another. */
  undelivered_by: Generated<string | null>
}

export type SessionKind = 'web' | 'api'

/** How a session was signed in: a code by SMS, or a passkey (migration 0013). */
export type SignInMethod = 'phone' | 'passkey'

export interface SessionsTable {
  id: string
  user_id: number
  kind: SessionKind
  created_at: number
  last_seen_at: number
  expires_at: number
  revoked_at: number | null
  user_agent: string | null
  ip: string | null
  method: Generated<SignInMethod>
  /** When a passkey last proved this session: its sign-in, or an admin's second factor after a code. */
  passkey_at: number | null
  /** The passkey that signed this session in or last proved it: removing that passkey ends the session. */
  passkey_id: string | null
}

export interface RefreshTokensTable {
  token_hash: string
  session_id: string
  created_at: number
  used_at: number | null
}

export interface LimitCountersTable {
  key: string
  window_start: number
  count: number
  expires_at: number
}

export type SigningAlgorithm = 'ES256' | 'RS256' | 'EdDSA' | 'HS256'

export interface SigningKeysTable {
  kid: string
  generation: number
  alg: SigningAlgorithm
  /** The public key as a JWK (JSON text); null for HS256. */
  public_jwk: string | null
  /** PKCS#8, encrypted (see services/signing-keys.ts); null for HS256. */
  private_key: string | null
  created_at: number
  /** Signs from this moment until the next generation activates; published from created_at. */
  activates_at: number
  revoked_at: number | null
}

export type WebhookEventStatus = 'pending' | 'delivered' | 'failed'

/** The outbox: one row per event, written in the transaction of the change it reports. */
export interface WebhookEventsTable {
  id: Generated<number>
  msg_id: string
  type: string
  user_id: number | null
  payload: string
  status: WebhookEventStatus
  attempts: Generated<number>
  next_attempt_at: number
  lease_until: number | null
  last_status: number | null
  last_error: string | null
  created_at: number
  finished_at: number | null
}

export type AuditActorKind = 'key' | 'phone' | 'cli'

/** The admin audit log (migration 0008): appended to, never updated or deleted. */
export interface AdminAuditTable {
  id: Generated<number>
  at: number
  actor_kind: AuditActorKind
  /** The key's name, the admin's phone, or the OS user of the CLI; never a secret. */
  actor: string
  action: string
  /** No foreign key: the entry outlives the account. */
  target_user_id: number | null
  /** E.164 when the action ran. */
  target_phone: string | null
  /** JSON text. */
  details: string
  ip: string | null
  request_id: string | null
  /** The server's own id of the request (0010); request_id may be the caller's X-Request-Id. */
  server_request_id: Generated<string | null>
}

/**
 * A change of number proven by a code to the current number (migration 0009): the account may
 * move to `phone` until `expires_at`. One row per account; the move deletes it.
 */
export interface PhoneChangesTable {
  user_id: number
  phone: string
  proven_at: number
  expires_at: number
}

export type FraudVerdict = 'allow' | 'block'

/** An operator's word on a destination of codes (migration 0012); the guard's counts are limit_counters. */
export interface FraudRulesTable {
  /** `p:<prefix>` or `c:<country>`. */
  destination: string
  verdict: FraudVerdict
  reason: string
  set_by: string
  set_at: number
}

/** A passkey (WebAuthn credential) of an account (migration 0013). */
export interface PasskeysTable {
  /** The credential id, base64url. */
  id: string
  user_id: number
  /** The COSE public key, base64url. */
  public_key: string
  /** The authenticator's signature counter, kept to notice a cloned authenticator. */
  counter: number
  /** JSON array of transports. */
  transports: string
  /** singleDevice or multiDevice (synced). */
  device_type: string
  /** 1 when the credential is backed up (synced to a cloud keychain). */
  backed_up: number
  name: string
  created_at: number
  last_used_at: number | null
}

export type ChallengePurpose = 'register' | 'authenticate' | 'admin'

/** A WebAuthn challenge the server issued: spent once (deleted), or gone when it expires. */
export interface WebauthnChallengesTable {
  challenge: string
  purpose: ChallengePurpose
  user_id: number | null
  session_id: string | null
  expires_at: number
}

export interface Database {
  users: UsersTable
  login_codes: LoginCodesTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  limit_counters: LimitCountersTable
  signing_keys: SigningKeysTable
  webhook_events: WebhookEventsTable
  deleted_phones: DeletedPhonesTable
  admin_audit: AdminAuditTable
  phone_changes: PhoneChangesTable
  fraud_rules: FraudRulesTable
  passkeys: PasskeysTable
  webauthn_challenges: WebauthnChallengesTable
  messages: MessagesTable
}

/** One message a code went out in, and its fate by the provider's receipts (migration 0014). */
export interface MessagesTable {
  id: string
  send_id: string
  channel: string
  provider: string
  provider_id: string | null
  /** ISO 3166 code of the number (as the metrics' country label), never the number. */
  country: string
  /** sent (handed over), failed (refused at once), delivered, undelivered. */
  status: string
  created_at: number
  updated_at: number
  delivered_at: number | null
}

export type UserRow = Selectable<UsersTable>
export type NewUser = Insertable<UsersTable>
export type LoginCodeRow = Selectable<LoginCodesTable>
export type SessionRow = Selectable<SessionsTable>
export type NewSession = Insertable<SessionsTable>
export type SigningKeyRow = Selectable<SigningKeysTable>
export type NewSigningKey = Insertable<SigningKeysTable>
export type WebhookEventRow = Selectable<WebhookEventsTable>
export type AdminAuditRow = Selectable<AdminAuditTable>
export type FraudRuleRow = Selectable<FraudRulesTable>
export type PasskeyRow = Selectable<PasskeysTable>
