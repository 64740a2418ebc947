import type { FastifyInstance, FastifyRequest } from 'fastify'
import cors, { type FastifyCorsOptions } from '@fastify/cors'
import { DomainError } from '../../domain/errors.js'
import { isCrossSite, needsNoPreflight, unsafeMethods } from '../cross-site.js'

/** A browser's preflight: OPTIONS with the method it means to send. A plain OPTIONS is not one. */
function isPreflight (request: FastifyRequest): boolean {
  return request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined
}

/**
 * The JSON API and other sites. A page on any site can make its visitors' browsers post a form
 * here without asking first, spreading sends over their addresses: such a post (form,
 * multipart, text, no type) that the browser marks as cross-site is refused (403
 * cross_site_request) before its body is read. Apps and scripts send no Sec-Fetch-Site or
 * Origin, so they are not touched. A web app on one of `corsOrigins` may call the API: its
 * preflights are answered (@fastify/cors), with bearer tokens, never cookies (no credentials).
 */
export async function guardCrossOrigin (app: FastifyInstance, corsOrigins: readonly string[]): Promise<void> {
  const allowed = new Set(corsOrigins)
  if (allowed.size > 0) {
    const options: FastifyCorsOptions = {
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Accept-Language', 'X-Request-Id'],
      exposedHeaders: ['Retry-After', 'X-Request-Id'],
      credentials: false,
      maxAge: 600
    }
    // Not an allowed origin, or a plain OPTIONS: no CORS headers, and OPTIONS goes on to the
    // API's own answer (200 with Allow).
    await app.register(cors, {
      delegator: (request, callback) => {
        const origin = request.headers.origin
        const corsRequest = origin !== undefined && allowed.has(origin) && (request.method !== 'OPTIONS' || isPreflight(request))
        callback(null, { ...options, origin: corsRequest ? origin : false })
      }
    })
  }
  app.addHook('onRequest', async (request) => {
    if (unsafeMethods.has(request.method) && needsNoPreflight(request) && isCrossSite(request, allowed)) {
      throw new DomainError('cross_site_request')
    }
  })
}
