import { Type } from 'typebox'
import { TokenPair } from './schemas.js'

// The passkey endpoints' contract (issue 24). The WebAuthn JSON itself is the W3C's
// (PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON, ...), passed through as
// the platform APIs take and give it: Android's Credential Manager takes the options' JSON as
// is, iOS's ASAuthorization wants the challenge and user id decoded from base64url.

const b64url = (description: string) => Type.String({ maxLength: 4096, pattern: '^[A-Za-z0-9_-]*$', description })

/** Options JSON, passed on to the platform as it is. */
export const CreationOptions = Type.Object({}, {
  additionalProperties: true,
  description: 'PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3): give it to navigator.credentials.create (PublicKeyCredential.parseCreationOptionsFromJSON), Android\'s CreatePublicKeyCredentialRequest, or iOS\'s ASAuthorizationPlatformPublicKeyCredentialProvider (challenge and user.id are base64url). Valid 5 minutes, once.'
})
export const RequestOptions = Type.Object({}, {
  additionalProperties: true,
  description: 'PublicKeyCredentialRequestOptionsJSON: for navigator.credentials.get (or conditional mediation), Android\'s GetPublicKeyCredentialOption, or iOS\'s assertion request. Valid 5 minutes, once.'
})

export const RegistrationResponse = Type.Object({
  id: b64url('The credential id'),
  rawId: b64url('The credential id'),
  type: Type.Literal('public-key'),
  response: Type.Object({
    clientDataJSON: b64url('base64url'),
    attestationObject: b64url('base64url'),
    transports: Type.Optional(Type.Array(Type.String({ maxLength: 20 }), { maxItems: 10 }))
  }, { additionalProperties: true }),
  clientExtensionResults: Type.Optional(Type.Object({}, { additionalProperties: true })),
  authenticatorAttachment: Type.Optional(Type.String({ maxLength: 20 }))
}, { additionalProperties: true, description: 'RegistrationResponseJSON: PublicKeyCredential.toJSON() of the new credential, or the registrationResponseJson Android\'s Credential Manager gives' })

export const AuthenticationResponse = Type.Object({
  id: b64url('The credential id'),
  rawId: b64url('The credential id'),
  type: Type.Literal('public-key'),
  response: Type.Object({
    clientDataJSON: b64url('base64url'),
    authenticatorData: b64url('base64url'),
    signature: b64url('base64url'),
    userHandle: Type.Optional(b64url('base64url'))
  }, { additionalProperties: true }),
  clientExtensionResults: Type.Optional(Type.Object({}, { additionalProperties: true })),
  authenticatorAttachment: Type.Optional(Type.String({ maxLength: 20 }))
}, { additionalProperties: true, description: 'AuthenticationResponseJSON: PublicKeyCredential.toJSON() of the assertion, or Android\'s authenticationResponseJson' })

export const PasskeyName = Type.String({ maxLength: 64, description: 'A name to tell the passkeys apart, e.g. "Pixel 8"; by default the browser and system' })

export const RegisterPasskeyBody = Type.Object({ response: RegistrationResponse, name: Type.Optional(PasskeyName) })
export const PasskeySignInBody = Type.Object({ response: AuthenticationResponse })
export const RenamePasskeyBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) })
export const PasskeyParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 1400, pattern: '^[A-Za-z0-9_-]+$' }) })

export const PasskeyBody = Type.Object({
  id: Type.String({ description: 'The credential id, base64url' }),
  name: Type.String(),
  device_type: Type.Union([Type.Literal('singleDevice'), Type.Literal('multiDevice')], { description: 'multiDevice: a synced passkey (iCloud Keychain, Google Password Manager)' }),
  backed_up: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()])
}, { $id: 'Passkey', title: 'Passkey' })

export const PasskeyList = Type.Object({ results: Type.Array(Type.Ref('Passkey')) })

export const PasskeySignInReply = Type.Object({
  ...TokenPair.properties,
  user: Type.Ref('Profile')
})
