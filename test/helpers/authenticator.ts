import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { encodeCBOR, type CBORType } from '@levischuck/tiny-cbor'

/**
 * A software passkey authenticator for the API tests: a P-256 key, attestation `none`, user
 * presence and verification flags, a signature counter. It builds the WebAuthn JSON a browser
 * or Android's Credential Manager would send (RegistrationResponseJSON,
 * AuthenticationResponseJSON), with node:crypto and a CBOR encoder, so the server's own
 * library (@simplewebauthn/server) checks what a real client would give it.
 */
export interface SoftAuthenticator {
  readonly credentialId: string
  register: (options: { challenge: string, rp: { id?: string } }, overrides?: Overrides) => RegistrationJson
  assert: (options: { challenge: string, rpId?: string }, overrides?: Overrides) => AuthenticationJson
}

export interface Overrides {
  origin?: string
  rpId?: string
  userVerified?: boolean
  /** The counter to sign with (default: one more than the last). */
  counter?: number
}

export interface RegistrationJson {
  id: string
  rawId: string
  type: 'public-key'
  response: { clientDataJSON: string, attestationObject: string, transports: string[] }
  clientExtensionResults: Record<string, never>
  authenticatorAttachment: 'platform'
}

export interface AuthenticationJson {
  id: string
  rawId: string
  type: 'public-key'
  response: { clientDataJSON: string, authenticatorData: string, signature: string, userHandle?: string }
  clientExtensionResults: Record<string, never>
  authenticatorAttachment: 'platform'
}

const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest()

function coseKey (publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' })
  return encodeCBOR(new Map<number, number | Uint8Array>([
    [1, 2], // kty: EC2
    [3, -7], // alg: ES256
    [-1, 1], // crv: P-256
    [-2, Buffer.from(jwk.x ?? '', 'base64url')],
    [-3, Buffer.from(jwk.y ?? '', 'base64url')]
  ]))
}

function flags (userVerified: boolean, attested: boolean): number {
  // UP, UV, BE and BS (a synced passkey), AT when a credential is attached.
  return 0x01 | (userVerified ? 0x04 : 0) | 0x08 | 0x10 | (attested ? 0x40 : 0)
}

function counterBytes (counter: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32BE(counter)
  return bytes
}

export function createSoftAuthenticator (origin: string, defaultRpId = 'localhost'): SoftAuthenticator {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rawId = randomBytes(16)
  const credentialId = rawId.toString('base64url')
  let counter = 0

  function clientData (type: string, challenge: string, at: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin: at, crossOrigin: false }))
  }

  return {
    credentialId,
    register (options, overrides = {}) {
      const rpId = overrides.rpId ?? options.rp.id ?? defaultRpId
      const data = clientData('webauthn.create', options.challenge, overrides.origin ?? origin)
      const idLength = Buffer.alloc(2)
      idLength.writeUInt16BE(rawId.length)
      const authData = Buffer.concat([
        sha256(rpId), Buffer.from([flags(overrides.userVerified ?? true, true)]), counterBytes(counter),
        Buffer.alloc(16), idLength, rawId, coseKey(publicKey)
      ])
      const attestationObject = encodeCBOR(new Map<string, CBORType>([['fmt', 'none'], ['attStmt', new Map<string, CBORType>()], ['authData', authData]]))
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: { clientDataJSON: data.toString('base64url'), attestationObject: Buffer.from(attestationObject).toString('base64url'), transports: ['internal', 'hybrid'] },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform'
      }
    },
    assert (options, overrides = {}) {
      counter = overrides.counter ?? counter + 1
      const rpId = overrides.rpId ?? options.rpId ?? defaultRpId
      const data = clientData('webauthn.get', options.challenge, overrides.origin ?? origin)
      const authData = Buffer.concat([sha256(rpId), Buffer.from([flags(overrides.userVerified ?? true, false)]), counterBytes(counter)])
      const signature = sign('sha256', Buffer.concat([authData, sha256(data)]), privateKey)
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: { clientDataJSON: data.toString('base64url'), authenticatorData: authData.toString('base64url'), signature: signature.toString('base64url') },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform'
      }
    }
  }
}
