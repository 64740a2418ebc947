import type { SessionKind } from '../store/schema.js'
import { insertRefreshToken, insertSession } from '../store/sessions.js'
import type { DbOrTransaction } from '../store/database.js'
import type { ClientInfo, ServiceContext } from './context.js'
import { generateOpaqueToken, generateSessionId, hashOpaqueToken } from './keys.js'

export interface TokenPair {
  access: string
  refresh: string
  expiresIn: number
}

/**
 * What every sign-in ends in, by code or by passkey: a session row that says how it was signed
 * in, and for an app the first refresh token, in the sign-in's transaction; then the token pair.
 */
export function createSignInSessions ({ config, accessTokens }: Pick<ServiceContext, 'config' | 'accessTokens'>) {
  /** A session signed in by code, or by the passkey `passkeyId` names (removing it ends the session). */
  async function openSession (trx: DbOrTransaction, userId: number, kind: SessionKind, client: ClientInfo, now: number, passkeyId?: string): Promise<string> {
    const sessionId = generateSessionId()
    await insertSession(trx, {
      id: sessionId,
      user_id: userId,
      kind,
      created_at: now,
      last_seen_at: now,
      expires_at: now + config.sessionTtlDays * 86_400_000,
      revoked_at: null,
      user_agent: client.userAgent?.slice(0, 256) ?? null,
      ip: client.ip,
      method: passkeyId === undefined ? 'phone' : 'passkey',
      passkey_at: passkeyId === undefined ? null : now,
      passkey_id: passkeyId ?? null
    })
    return sessionId
  }

  async function issueRefreshToken (trx: DbOrTransaction, sessionId: string, now: number): Promise<string> {
    const refresh = generateOpaqueToken()
    await insertRefreshToken(trx, { tokenHash: hashOpaqueToken(refresh), sessionId, createdAt: now })
    return refresh
  }

  function tokenPair (userId: number, sessionId: string, refresh: string): TokenPair {
    return { access: accessTokens.sign({ userId, sessionId }), refresh, expiresIn: accessTokens.ttlSeconds }
  }

  return { openSession, issueRefreshToken, tokenPair }
}
