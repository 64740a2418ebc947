import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock } from './clock.js'

/**
 * A device token says "this device signed in to this phone before". It is
 * `v1.<device id>.<expiry, epoch seconds>.<HMAC>`, the HMAC taken over the phone too, so the
 * phone is not readable from the token and the token is good for that phone only.
 */
export interface DeviceTokens {
  /** A token for this phone; a device that had one keeps its id. */
  issue: (phone: string, deviceId?: string) => string
  /** The device id when the token is genuine, unexpired and for this phone; else undefined. */
  verify: (token: string | undefined, phone: string) => string | undefined
  /**
   * The one identity that sign-ins past the phone's daily number of new devices share, so a
   * phone's device budgets stay bounded however often it signs in.
   */
  sharedId: (phone: string) => string
  /** When a well-formed token was issued (epoch ms, from its expiry and DEVICE_TOKEN_TTL_DAYS); undefined for anything else. */
  issuedAt: (token: string | undefined) => number | undefined
}

const tokenPattern = /^v1\.([A-Za-z0-9_-]{22})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$/

function sign (key: Buffer, deviceId: string, expiresAt: number, phone: string): Buffer {
  return createHmac('sha256', key).update(`v1.${deviceId}.${expiresAt}.${phone}`).digest()
}

/** The first key signs; every key verifies, so rotating PHONEPASS_SECRET keeps devices known. */
export function createDeviceTokens (keys: readonly Buffer[], ttlDays: number, clock: Clock): DeviceTokens {
  const signingKey = keys[0]
  if (signingKey === undefined) throw new Error('at least one device key is needed')
  return {
    issue (phone, deviceId = randomBytes(16).toString('base64url')) {
      const expiresAt = Math.floor(clock.now() / 1000) + ttlDays * 86_400
      return `v1.${deviceId}.${expiresAt}.${sign(signingKey, deviceId, expiresAt, phone).toString('base64url')}`
    },
    verify (token, phone) {
      const match = token === undefined ? null : tokenPattern.exec(token)
      if (match === null) return undefined
      const [, deviceId = '', expiry = '', mac = ''] = match
      const expiresAt = Number(expiry)
      if (expiresAt * 1000 <= clock.now()) return undefined
      const given = Buffer.from(mac, 'base64url')
      let genuine = false
      for (const key of keys) {
        const expected = sign(key, deviceId, expiresAt, phone)
        if (expected.length === given.length && timingSafeEqual(expected, given)) genuine = true
      }
      return genuine ? deviceId : undefined
    },
    issuedAt (token) {
      const match = token === undefined ? null : tokenPattern.exec(token)
      if (match === null) return undefined
      return (Number(match[2]) - ttlDays * 86_400) * 1000
    },
    sharedId (phone) {
      return createHmac('sha256', signingKey).update(`shared-device.${phone}`).digest().subarray(0, 16).toString('base64url')
    }
  }
}
