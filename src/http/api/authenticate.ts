import type { FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from '../../domain/errors.js'

// simplejwt's default header type is Bearer; some deployments configured "JWT".
const bearer = /^(?:Bearer|JWT)\s+(\S+)\s*$/i

/** preHandler for the API's signed-in routes: sets request.auth or answers 401. */
export async function requireBearer (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const header = request.headers.authorization
  if (header === undefined || header === '') {
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
