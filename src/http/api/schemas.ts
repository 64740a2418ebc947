import { Type, type Static, type TSchema } from 'typebox'

// The shared pieces of the API's contract. Field names are the Django service's.

export const PhoneInput = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'A phone number, international (+7 912 345-67-89) or national; digits, spaces, brackets, dashes and a leading +.',
  examples: ['+79123456789']
})

export const Profile = Type.Object({
  id: Type.Integer(),
  phone: Type.String({ description: 'E.164', examples: ['+79123456789'] }),
  invite_code: Type.String({ description: 'This user\'s own invite code', examples: ['K7M2XQ'] }),
  activated_invite_code: Type.Union([Type.String(), Type.Null()], { description: 'The code this user activated, if any' }),
  users_invited: Type.Array(Type.String(), { description: 'Phones of the users who activated this user\'s code, oldest first; at most PROFILE_INVITED_LIMIT (1000) of them, the rest from GET /api/users/me/invited/' }),
  users_invited_count: Type.Integer({ description: 'How many users activated this user\'s code' })
}, { $id: 'Profile', title: 'Profile' })

export const invitedPageDefaultLimit = 100
export const InvitedQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: invitedPageDefaultLimit, description: 'Phones per page' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'How many to skip' }))
})
export const InvitedPage = Type.Object({
  count: Type.Integer({ description: 'How many users activated this user\'s code' }),
  next: Type.Union([Type.String(), Type.Null()], { description: 'The next page (a path on this service), or null' }),
  previous: Type.Union([Type.String(), Type.Null()], { description: 'The previous page (a path on this service), or null' }),
  results: Type.Array(Type.String(), { description: 'Phones, oldest first' })
})

export const ErrorBody = Type.Object({
  detail: Type.String({ description: 'A sentence a person understands, in the language of Accept-Language (en, ru)' }),
  code: Type.String({ description: 'Machine-readable error code', examples: ['code_invalid'] }),
  errors: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()), { description: 'Messages per field' })),
  attempts_left: Type.Optional(Type.Integer({ description: 'Tries left on the current code' })),
  challenge: Type.Optional(Type.Union([Type.Object({
    algorithm: Type.String({ examples: ['SHA-256'] }),
    challenge: Type.String({ description: 'hex(SHA-256(salt + number)) for the number to find' }),
    maxnumber: Type.Optional(Type.Integer({ description: 'The number lies from 0 to this' })),
    salt: Type.String(),
    signature: Type.String()
  }, { description: 'With challenge_required and challenge_invalid (FRAUD_CHALLENGE=altcha, the default): an ALTCHA proof-of-work challenge (altcha-lib\'s solveChallenge, or the ALTCHA widget, solves it). Send register again with `challenge` set to base64(JSON {algorithm, challenge, number, salt, signature}). Single-use, bound to this phone, it expires in minutes.' }),
  Type.Object({
    provider: Type.Union([Type.Literal('turnstile'), Type.Literal('hcaptcha')]),
    site_key: Type.String({ description: 'The site key to render the provider\'s widget with' })
  }, { description: 'With FRAUD_CHALLENGE=turnstile or hcaptcha: show that provider\'s widget (Cloudflare Turnstile, hCaptcha) with this site key, and send register again with `challenge` set to the token it gives. Single-use.' })]))
}, { $id: 'Error', title: 'Error' })

export const TokenPair = Type.Object({
  refresh: Type.String({ description: 'Opaque refresh token; works once (rotation)' }),
  access: Type.String({ description: 'JWT access token (ES256 by default, JWT_ALGORITHM; its kid names a key of /.well-known/jwks.json), for Authorization: Bearer' }),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds the access token lives' })
})

export const DeviceTokenInput = Type.String({ maxLength: 256, description: 'The device_token of this device\'s last sign-in to this phone, if any: the device keeps budgets of codes and wrong codes of its own, so the owner is not locked out by someone spending the phone\'s' })

export const ChallengeInput = Type.String({ maxLength: 2048, description: 'Only where the answer was challenge_required (the fraud guard): the solved challenge, base64(JSON {algorithm, challenge, number, salt, signature}) as ALTCHA sends it, or a captcha provider\'s token' })

export const RegisterBody = Type.Object({
  phone: PhoneInput,
  device_token: Type.Optional(DeviceTokenInput),
  challenge: Type.Optional(ChallengeInput),
  channel: Type.Optional(Type.Union([Type.Literal('sms'), Type.Literal('whatsapp'), Type.Literal('voice')], { description: 'How to send the code: tried first, then the rest of the number\'s channels in order if its provider fails. Left out: the order for the number\'s country (CHANNELS, CHANNELS_BY_COUNTRY). 400 channel_unavailable when not offered for the number.' }))
})
export const RegisterReply = Type.Object({
  phone: Type.String({ description: 'The number the code was sent to, E.164' }),
  expires_in: Type.Integer({ description: 'Seconds the code lives' }),
  resend_in: Type.Integer({ description: 'Seconds until a new code may be asked for' }),
  detail: Type.String(),
  channel: Type.Union([Type.Literal('sms'), Type.Literal('whatsapp'), Type.Literal('voice')], { description: 'The channel the code went by (after any fallback)' }),
  channels: Type.Array(Type.Union([Type.Literal('sms'), Type.Literal('whatsapp'), Type.Literal('voice')]), { description: 'The channels this number may ask for a code by, in order (offer the others as "send by … instead")' })
})

export const VerifyBody = Type.Object({
  phone: PhoneInput,
  auth_code: Type.String({ minLength: 1, maxLength: 16, description: 'The code from the SMS', examples: ['1234'] }),
  device_token: Type.Optional(DeviceTokenInput)
})
export const VerifyReply = Type.Object({
  ...TokenPair.properties,
  created: Type.Boolean({ description: 'True when this sign-in created the account' }),
  user: Type.Ref('Profile'),
  device_token: Type.String({ description: 'Keep it and send it with the next verify_code for this phone (optional)' })
})

export const InviteBody = Type.Object({
  invite_code: Type.String({ minLength: 1, maxLength: 32, description: 'Another user\'s invite code; case-insensitive', examples: ['K7M2XQ'] })
})

export const DeleteAccountBody = Type.Object({
  auth_code: Type.String({ minLength: 1, maxLength: 16, description: 'A fresh code sent to the account\'s own phone (POST /api/users/register/ with that phone)', examples: ['1234'] }),
  device_token: Type.Optional(DeviceTokenInput)
})

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
const Time = Type.String({ format: 'date-time' })
export const DataExport = Type.Object({
  exported_at: Time,
  profile: Type.Object({ id: Type.Integer(), phone: Type.String(), invite_code: Type.String(), created_at: Time }),
  invited_by: Nullable(Type.Object({
    phone: Nullable(Type.String({ description: 'null when the inviter has deleted their account' })),
    invite_code: Type.String(),
    activated_at: Nullable(Time)
  })),
  users_invited: Type.Array(Type.Object({ phone: Type.String(), invited_at: Nullable(Time) }), { description: 'All of them, oldest first' }),
  sessions: Type.Array(Type.Object({
    kind: Type.String({ description: 'api (an app) or web (a browser)' }),
    method: Type.String({ description: 'phone (a code by SMS) or passkey' }),
    created_at: Time,
    last_seen_at: Time,
    expires_at: Time,
    revoked_at: Nullable(Time),
    ip: Nullable(Type.String()),
    user_agent: Nullable(Type.String())
  }), { description: 'Every session kept, live or ended, oldest first; their ids are credentials and stay out' }),
  login_code: Nullable(Type.Object({ sent_at: Time, expires_at: Time, tries: Type.Integer({ description: 'codes typed for it so far' }), ip: Nullable(Type.String()), used_at: Nullable(Time) })),
  events: Type.Array(Type.Object({
    type: Type.String(),
    created_at: Time,
    delivery: Type.String({ description: 'pending, delivered or failed' }),
    data: Type.Object({}, { additionalProperties: true })
  }), { description: 'Webhook events about me still kept (delivered ones are deleted after WEBHOOK_RETENTION_DAYS)' }),
  passkeys: Type.Array(Type.Object({
    id: Type.String({ description: 'The credential id, base64url' }),
    name: Type.String(),
    device_type: Type.String({ description: 'singleDevice or multiDevice (synced)' }),
    backed_up: Type.Boolean(),
    transports: Type.Array(Type.String()),
    created_at: Time,
    last_used_at: Nullable(Time)
  }), { description: 'My passkeys, oldest first (their public keys stay out)' })
}, { description: 'Everything phonepass stores about me' })

export const PhoneChangeBody = Type.Object({
  phone: PhoneInput,
  auth_code: Type.String({ minLength: 1, maxLength: 16, description: 'A fresh code sent to the account\'s current phone (POST /api/users/register/ with that phone): the proof that the owner asks for the change', examples: ['1234'] }),
  device_token: Type.Optional(DeviceTokenInput),
  challenge: Type.Optional(ChallengeInput)
})
export const PhoneChangeVerifyBody = Type.Object({
  phone: PhoneInput,
  auth_code: Type.String({ minLength: 1, maxLength: 16, description: 'The code sent to the new number', examples: ['1234'] })
})

export const TokenVerifyBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096, description: 'An access token' }) })
export const TokenVerifyReply = Type.Object({}, { description: 'The token is genuine, unexpired, and its session is live' })

export const RefreshBody = Type.Object({ refresh: Type.String({ minLength: 1, maxLength: 256 }) })
export const LogoutBody = Type.Union([Type.Object({ refresh: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) }), Type.Null()])

export const errorResponses = (...statuses: number[]): Record<number, unknown> =>
  Object.fromEntries(statuses.map(status => [status, Type.Ref('Error')]))

export type ProfileBody = Static<typeof Profile>
