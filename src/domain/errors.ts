/**
 * Every refusal the service can give, by name. Both faces map a DomainError once:
 * the API to {detail, code} JSON with the status below, the pages to a message beside a field.
 * The human text for each code lives in the i18n catalogue.
 */
export const errorStatus = {
  validation_error: 400,
  parse_error: 400,
  phone_invalid: 400,
  phone_not_allowed: 400,
  code_invalid: 400,
  code_expired: 400,
  code_not_found: 400,
  too_many_attempts: 429,
  resend_too_soon: 429,
  rate_limited: 429,
  too_many_codes: 429,
  too_many_wrong_codes: 429,
  phone_country_not_allowed: 400,
  sms_cap_reached: 503,
  sms_unavailable: 503,
  /** register: a channel (whatsapp, voice, sms) not offered for this number's country (issue 25). */
  channel_unavailable: 400,
  /** register: the voice caps (a phone's calls a day, the service's an hour) are spent. */
  too_many_calls: 429,
  /** A provider's callback (a delivery receipt) without a valid signature: refused, nothing changed. */
  signature_invalid: 403,
  invite_code_invalid: 400,
  invite_own_code: 400,
  invite_not_found: 404,
  invite_already_activated: 409,
  invite_cycle: 409,
  phone_taken: 409,
  /** The fraud guard: a send to a suspect destination needs a solved challenge (the body carries one). */
  challenge_required: 403,
  /** A challenge solution that is wrong, expired, used, or for another phone (a new challenge comes with it). */
  challenge_invalid: 403,
  /** New numbers of a destination wait: its codes go unentered although challenges are solved. */
  destination_cooling_off: 429,
  /** A change of number to the same number. */
  phone_unchanged: 400,
  /** A change of number not proven by a live code to the current number. */
  phone_change_unproven: 403,
  /** Passkeys (issue 24): a passkey response that did not verify (unknown or removed passkey, another site or origin, a bad signature, no user verification). */
  passkey_invalid: 401,
  /** A passkey ceremony's challenge that is unknown, used, expired or for another purpose. */
  passkey_challenge_invalid: 400,
  /** Adding a passkey needs a sign-in by code within PASSKEY_FRESH_MINUTES (a stolen token alone must not). */
  passkey_sign_in_too_old: 403,
  /** An admin who has a passkey must confirm with it first (adding another, the admin pages). */
  passkey_required: 403,
  /** This passkey is registered already. */
  passkey_exists: 409,
  passkey_not_found: 404,
  /** Passkeys are off (production without PASSKEY_RP_ID). */
  passkeys_off: 404,
  not_authenticated: 401,
  token_not_valid: 401,
  cross_site_request: 403,
  account_blocked: 403,
  not_found: 404,
  /** Admin faces: no live account with this id (or phone). */
  user_not_found: 404,
  session_not_found: 404,
  reason_invalid: 400,
  /** Admin faces: a fraud-guard destination that is neither a number prefix (+ and 2 to 14 digits) nor a country's ISO 3166 code. */
  destination_invalid: 400,
  /** Admin faces: a valid admin from outside ADMIN_ALLOWED_NETWORKS (issue 22). */
  admin_network_refused: 403,
  method_not_allowed: 405,
  unsupported_media_type: 415,
  payload_too_large: 413,
  service_unavailable: 503,
  internal_error: 500
} as const

export type ErrorCode = keyof typeof errorStatus

export interface ErrorDetails {
  /** Field the error belongs to, so a page can show it beside that field. */
  field?: string
  attemptsLeft?: number
  /** Seconds until trying again makes sense; becomes Retry-After. */
  retryAfter?: number
  /** The fraud guard's proof-of-work challenge to solve (ALTCHA's JSON), or the captcha widget to show. */
  challenge?: AltchaChallenge | CaptchaChallenge
}

export class DomainError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details: ErrorDetails

  constructor (code: ErrorCode, details: ErrorDetails = {}) {
    super(code)
    this.name = 'DomainError'
    this.code = code
    this.status = errorStatus[code]
    this.details = details
  }
}

export function isDomainError (error: unknown): error is DomainError {
  return error instanceof DomainError
}

/** ALTCHA's challenge JSON (v1), as altcha-lib's createChallenge makes it. */
export interface AltchaChallenge { algorithm: string, challenge: string, maxnumber?: number, salt: string, signature: string }

/** With FRAUD_CHALLENGE=turnstile or hcaptcha: the widget to show; its token is the solution. */
export interface CaptchaChallenge { provider: 'turnstile' | 'hcaptcha', site_key: string }
