import type { FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from '../../domain/errors.js'

// simplejwt's default header type is Bearer; some deployments configured "JWT". A header of
// another scheme (Basic, Token) is, as in simplejwt, no credentials at all rather than a bad token.
const ourScheme = /^(?:Bearer|JWT)(?:\s|$)/i
const bearer = /^(?:Bearer|JWT)\s+(\S+)\s*$/i

/**
 * onRequest hook of the API's signed-in routes: sets request.auth or answers 401. It runs
 * before the body is read or validated, so a caller without credentials learns that first,
 * as DRF answered (an app that refreshes its token on 401 is not shown a field error).
 */
export async function requireBearer (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const header = request.headers.authorization
  if (header === undefined || !ourScheme.test(header)) {
    reply.header('www-authenticate', 'Bearer realm="api"')
    throw new DomainError('not_authenticated')
  }
  const token = bearer.exec(header)?.[1]
  if (token === undefined) {
    reply.header('www-authenticate', 'Bearer realm="api", error="invalid_token"')
    throw new DomainError('token_not_valid')
  }
  try {
    request.auth = await request.server.services.auth.authenticateAccessToken(token)
  } catch (error) {
    reply.header('www-authenticate', 'Bearer realm="api", error="invalid_token"')
    throw error
  }
}
