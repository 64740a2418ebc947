import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'

/** Verifiers may keep the set this long; a new key is published longer than this before it signs. */
export const jwksMaxAgeSeconds = 300

// Only public members are named: a private one (d, p, q, …) could not be written out even by mistake.
const Jwk = Type.Object({
  kty: Type.String({ examples: ['EC'] }),
  kid: Type.String(),
  alg: Type.String({ examples: ['ES256'] }),
  use: Type.Literal('sig'),
  key_ops: Type.Array(Type.Literal('verify')),
  crv: Type.Optional(Type.String({ description: 'EC and OKP keys', examples: ['P-256'] })),
  x: Type.Optional(Type.String({ description: 'EC and OKP keys' })),
  y: Type.Optional(Type.String({ description: 'EC keys' })),
  n: Type.Optional(Type.String({ description: 'RSA keys' })),
  e: Type.Optional(Type.String({ description: 'RSA keys' }))
})

/** GET /.well-known/jwks.json: the public keys access tokens are checked with (RFC 7517). */
export async function jwksRoutes (app: FastifyInstance): Promise<void> {
  app.get('/.well-known/jwks.json', {
    schema: {
      tags: ['auth'],
      summary: 'The public keys that verify access tokens (JWKS)',
      description: `Keys published before they sign and kept until every token they signed has expired; a token's kid names its key. Empty with JWT_ALGORITHM=HS256: a symmetric key is never published. Cache-Control: public, max-age=${jwksMaxAgeSeconds}.`,
      response: { 200: Type.Object({ keys: Type.Array(Jwk) }) }
    }
  }, async (_request, reply) => {
    reply.header('cache-control', `public, max-age=${jwksMaxAgeSeconds}`)
    return { keys: app.signingKeys.jwks() }
  })
}
