import { randomBytes } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { isLowS, toLowS } from '../domain/ecdsa-signature.js'
import { DomainError } from '../domain/errors.js'
import type { Clock } from './clock.js'
import { clockSkewMs, type SigningKeys, type VerificationKey } from './signing-keys.js'

export interface AccessClaims {
  userId: number
  sessionId: string
}

export interface AccessTokens {
  sign: (claims: AccessClaims) => string
  verify: (token: string) => Promise<AccessClaims>
  readonly ttlSeconds: number
}

export interface AccessTokenOptions {
  ttlSeconds: number
  /** Set as iss and required on verify, when configured. */
  issuer?: string | undefined
  audience?: string | undefined
}

type Signer = (payload: Record<string, unknown>) => string
type Verifier = (token: string) => Record<string, unknown>

// Verified tokens are remembered per key (fast-jwt's LRU, bounded), so `me` pays for an
// ES256 or RS256 check once per token, not per request; expiry is checked on every call below.
const verifiedTokensPerKey = 10_000

function readHeader (token: string): Record<string, unknown> | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0) return undefined
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString())
    return typeof header === 'object' && header !== null ? header as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

function lowS (token: string): string {
  const dot = token.lastIndexOf('.')
  return `${token.slice(0, dot + 1)}${toLowS(Buffer.from(token.slice(dot + 1), 'base64url')).toString('base64url')}`
}

/**
 * JWT access tokens with djangorestframework-simplejwt's claims (token_type, exp, iat, jti,
 * user_id) plus sid, so clients that decode them keep working. Signed with the key in use
 * (services/signing-keys.ts), its kid in the header. A token is checked with the key its kid
 * names and that key's algorithm only, never the one its header claims: "alg": "none", or
 * HS256 keyed with a public key, is refused before its signature is looked at.
 */
export function createAccessTokens (signingKeys: SigningKeys, options: AccessTokenOptions, clock: Clock): AccessTokens {
  const { ttlSeconds, issuer, audience } = options
  const signers = new Map<string, Signer>()
  const verifiers = new Map<string, Verifier>()
  // fast-jwt checks iss and aud only when a token has them: requiredClaims makes them a must.
  const claimChecks = {
    ...(issuer === undefined ? {} : { allowedIss: issuer }),
    ...(audience === undefined ? {} : { allowedAud: audience }),
    requiredClaims: [...(issuer === undefined ? [] : ['iss']), ...(audience === undefined ? [] : ['aud'])]
  }

  function verifierOf (key: VerificationKey): Verifier {
    let verifier = verifiers.get(key.kid)
    if (verifier === undefined) {
      // Expiry is checked against the injected clock below, not fast-jwt's.
      verifier = createVerifier({ key: key.key, algorithms: [key.alg], ...claimChecks, ignoreExpiration: true, ignoreNotBefore: true, cache: verifiedTokensPerKey })
      verifiers.set(key.kid, verifier)
    }
    return verifier
  }

  // Tokens signed before keys were stored: no kid, HS256 with a key derived from a secret.
  // Other services may hold that key (an HS256 deployment hands it out), so the path is shut
  // once no such token can still be live, not merely checked for an old iat.
  const legacyVerifiers = new Map<Buffer, Verifier>()
  function legacyVerify (token: string): Record<string, unknown> | undefined {
    const { issuedBefore, closesAt } = signingKeys.legacyWindow()
    if (clock.now() >= closesAt) return undefined
    for (const key of signingKeys.hmacKeys()) {
      let verifier = legacyVerifiers.get(key)
      if (verifier === undefined) {
        verifier = createVerifier({ key, algorithms: ['HS256'], ignoreExpiration: true, ignoreNotBefore: true, cache: verifiedTokensPerKey })
        legacyVerifiers.set(key, verifier)
      }
      try {
        const payload = verifier(token)
        return typeof payload.iat === 'number' && payload.iat * 1000 < issuedBefore ? payload : undefined
      } catch {
        // Not this secret's: try the next.
      }
    }
    return undefined
  }

  async function verifyPayload (token: string): Promise<Record<string, unknown> | undefined> {
    const header = readHeader(token)
    if (header === undefined) return undefined
    if (header.kid === undefined && header.alg === 'HS256') return legacyVerify(token)
    if (typeof header.kid !== 'string' || header.kid.length > 100) return undefined
    const key = await signingKeys.verificationKey(header.kid)
    if (key === undefined) return undefined
    // A high-S twin of a token is refused before its signature is checked: one form per token.
    if (key.alg === 'ES256' && !isLowS(Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url'))) return undefined
    try {
      return verifierOf(key)(token)
    } catch {
      return undefined
    }
  }

  return {
    ttlSeconds,
    sign ({ userId, sessionId }) {
      const key = signingKeys.signingKey()
      let signer = signers.get(key.kid)
      if (signer === undefined) {
        const signs = createSigner({ key: key.key, algorithm: key.alg, kid: key.kid }) as Signer
        // OpenSSL gives s from either half; the verifier above takes only the low one.
        signer = key.alg !== 'ES256' ? signs : payload => lowS(signs(payload))
        signers.set(key.kid, signer)
      }
      const iat = Math.floor(clock.now() / 1000)
      return signer({
        token_type: 'access',
        exp: iat + ttlSeconds,
        iat,
        jti: randomBytes(16).toString('hex'),
        user_id: userId,
        sid: sessionId,
        ...(issuer === undefined ? {} : { iss: issuer }),
        ...(audience === undefined ? {} : { aud: audience })
      })
    },
    async verify (token) {
      const payload = await verifyPayload(token)
      if (payload !== undefined) {
        const { token_type: tokenType, exp, iat, user_id: userId, sid } = payload
        const now = clock.now()
        // Whoever holds a key (a leaked one, the HS256 key other services were given) must not
        // mint a token that outlives the key's retirement or the kid-less window: no token
        // lives longer than the configured lifetime, nor starts later than the clocks' skew.
        const lifetimeOk = typeof exp === 'number' && typeof iat === 'number' && exp - iat <= ttlSeconds && iat * 1000 <= now + clockSkewMs
        if (tokenType === 'access' && lifetimeOk && typeof userId === 'number' && typeof sid === 'string' && exp * 1000 > now) {
          return { userId, sessionId: sid }
        }
      }
      throw new DomainError('token_not_valid')
    }
  }
}
