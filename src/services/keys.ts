import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'

export type KeyPurpose = 'otp' | 'jwt' | 'cookie' | 'device' | 'keystore' | 'phone' | 'challenge'

/**
 * One PHONEPASS_SECRET, a key per use: a leak of one derived key (say, a JWT key in a
 * client's debugger) tells nothing about the others.
 */
export interface Keys {
  /** The first key signs; every key verifies (secret rotation). */
  readonly otp: readonly Buffer[]
  readonly jwt: readonly Buffer[]
  readonly cookie: readonly Buffer[]
  /** Signs device tokens: the owner's own budget of wrong codes. */
  readonly device: readonly Buffer[]
  /** Encrypts the stored private keys that sign access tokens (services/signing-keys.ts). */
  readonly keystore: readonly Buffer[]
  /** Keys the hash kept of a deleted account's phone (the referral-abuse guard). */
  readonly phone: readonly Buffer[]
  /** Signs the fraud guard's proof-of-work challenges (ALTCHA's HMAC key). */
  readonly challenge: readonly Buffer[]
}

function derive (secret: string, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'phonepass', `phonepass:${purpose}`, 32))
}

export function deriveKeys (secrets: readonly string[]): Keys {
  return {
    otp: secrets.map(secret => derive(secret, 'otp')),
    jwt: secrets.map(secret => derive(secret, 'jwt')),
    cookie: secrets.map(secret => derive(secret, 'cookie')),
    device: secrets.map(secret => derive(secret, 'device')),
    keystore: secrets.map(secret => derive(secret, 'keystore')),
    phone: secrets.map(secret => derive(secret, 'phone')),
    challenge: secrets.map(secret => derive(secret, 'challenge'))
  }
}

/** A phone as kept after its account is deleted: HMAC-SHA256 under a key of its own, hex. */
export function hashPhone (key: Buffer, phone: string): string {
  return createHmac('sha256', key).update(phone).digest('hex')
}

/** The stored form of a one-time code: it is useless without the server's key. */
export function hashOneTimeCode (key: Buffer, phone: string, code: string): string {
  return createHmac('sha256', key).update(`${phone}:${code}`).digest('hex')
}

export function oneTimeCodeMatches (keys: readonly Buffer[], phone: string, code: string, storedHash: string): boolean {
  const stored = Buffer.from(storedHash, 'hex')
  let matches = false
  for (const key of keys) {
    const candidate = Buffer.from(hashOneTimeCode(key, phone, code), 'hex')
    // Every key is tried, so the time taken does not tell which one matched.
    if (candidate.length === stored.length && timingSafeEqual(candidate, stored)) matches = true
  }
  return matches
}

/** 256 bits, for refresh tokens: high entropy, so an unkeyed hash is enough to store. */
export function generateOpaqueToken (): string {
  return randomBytes(32).toString('base64url')
}

export function hashOpaqueToken (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** 128-bit session id. */
export function generateSessionId (): string {
  return randomBytes(16).toString('hex')
}

/** A session as log lines name it: the first 8 hex characters, enough to find it, not the whole id. */
export function sessionForLog (sessionId: string): string {
  return sessionId.slice(0, 8)
}
