import type { FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from '../../domain/errors.js'
import type { DbOrTransaction } from '../../store/database.js'

// simplejwt's default header type is Bearer; some deployments configured "JWT". A header of
// another scheme (Basic, Token) is, as in simplejwt, no credentials at all rather than a bad token.
const ourScheme = /^(?:Bearer|JWT)(?:\s|$)/i
const bearer = /^(?:Bearer|JWT)\s+(\S+)\s*$/i

declare module 'fastify' {
  interface FastifyRequest {
    /** The bearer token taken by takeBearer, not yet checked. */
    bearerToken?: string
  }
}

const invalidToken = 'Bearer realm="api", error="invalid_token"'

/** The bearer token of the Authorization header, or the 401 for its absence or form. */
function bearerTokenOf (request: FastifyRequest, reply: FastifyReply): string {
  const header = request.headers.authorization
  if (header === undefined || !ourScheme.test(header)) {
    reply.header('www-authenticate', 'Bearer realm="api"')
    throw new DomainError('not_authenticated')
  }
  const token = bearer.exec(header)?.[1]
  if (token === undefined) {
    reply.header('www-authenticate', invalidToken)
    throw new DomainError('token_not_valid')
  }
  return token
}

/**
 * onRequest hook of the API's signed-in routes: sets request.auth or answers 401. It runs
 * before the body is read or validated, so a caller without credentials learns that first,
 * as DRF answered (an app that refreshes its token on 401 is not shown a field error).
 */
export async function requireBearer (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const token = bearerTokenOf(request, reply)
  try {
    request.auth = await request.server.services.auth.authenticateAccessToken(token)
  } catch (error) {
    reply.header('www-authenticate', invalidToken)
    throw error
  }
}

/**
 * onRequest hook of the signed-in routes that check the token's session together with what
 * they read (authenticateBearer): a missing or malformed header is answered here, as by
 * requireBearer; the token is kept for the handler.
 */
export async function takeBearer (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  request.bearerToken = bearerTokenOf(request, reply)
}

/**
 * In the handler of a route with takeBearer: the token checked as requireBearer checks it,
 * with `read` run in the same read transaction as the session's lookup; sets request.auth.
 */
export async function authenticateBearer<T> (request: FastifyRequest, reply: FastifyReply, read: (db: DbOrTransaction, userId: number) => Promise<T | undefined>): Promise<T> {
  if (request.bearerToken === undefined) throw new DomainError('not_authenticated')
  try {
    const found = await request.server.services.auth.authenticateAccessTokenAndRead(request.bearerToken, read)
    request.auth = found.authenticated
    return found.read
  } catch (error) {
    reply.header('www-authenticate', invalidToken)
    throw error
  }
}
