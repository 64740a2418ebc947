import { randomBytes } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { DomainError } from '../domain/errors.js'
import type { Clock } from './clock.js'

export interface AccessClaims {
  userId: number
  sessionId: string
}

export interface AccessTokens {
  sign: (claims: AccessClaims) => string
  verify: (token: string) => AccessClaims
  readonly ttlSeconds: number
}

/**
 * JWT access tokens with djangorestframework-simplejwt's claims (token_type, exp, iat, jti,
 * user_id) plus sid, so clients that decode them keep working. HS256 only: a token with
 * "alg": "none" or any other algorithm is refused before its signature is looked at.
 */
export function createAccessTokens (keys: readonly Buffer[], ttlSeconds: number, clock: Clock): AccessTokens {
  const [signingKey] = keys
  if (signingKey === undefined) throw new Error('at least one JWT key is needed')
  const signer = createSigner({ key: signingKey, algorithm: 'HS256' })
  // Expiry is checked against the injected clock below, not fast-jwt's.
  const verifiers = keys.map(key => createVerifier({ key, algorithms: ['HS256'], ignoreExpiration: true, ignoreNotBefore: true, cache: 1000 }))

  return {
    ttlSeconds,
    sign ({ userId, sessionId }) {
      const iat = Math.floor(clock.now() / 1000)
      return signer({
        token_type: 'access',
        exp: iat + ttlSeconds,
        iat,
        jti: randomBytes(16).toString('hex'),
        user_id: userId,
        sid: sessionId
      })
    },
    verify (token) {
      for (const verifier of verifiers) {
        let payload: Record<string, unknown>
        try {
          payload = verifier(token)
        } catch {
          continue
        }
        const { token_type: tokenType, exp, user_id: userId, sid } = payload
        if (tokenType !== 'access' || typeof exp !== 'number' || typeof userId !== 'number' || typeof sid !== 'string') break
        if (exp * 1000 <= clock.now()) break
        return { userId, sessionId: sid }
      }
      throw new DomainError('token_not_valid')
    }
  }
}
