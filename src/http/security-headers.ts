import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's security headers, in place of the app's (see securityHeaders). */
    securityHeaders?: Record<string, string>
  }
}

/**
 * helmet's headers for a configuration, worked out once. Our policies hold no per-request
 * parts (no nonces), so every answer gets the same headers; @fastify/helmet built helmet's
 * middleware anew on every request, which was about 5% of a `GET /api/users/me/`.
 */
export function securityHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const collector = {
    setHeader (name: string, value: string | number | readonly string[]) { headers[name.toLowerCase()] = String(value) },
    removeHeader () {}
  }
  helmet(options)({} as IncomingMessage, collector as unknown as ServerResponse, (error?: unknown) => {
    if (error !== undefined) throw error
  })
  return headers
}

/** Sets the headers on every answer, or the route's own (`config.securityHeaders`). */
export const securityHeadersPlugin = fp(async (app: FastifyInstance, options: HelmetOptions) => {
  const appHeaders = securityHeaders(options)
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(request.routeOptions.config.securityHeaders ?? appHeaders)
    done()
  })
}, { name: 'phonepass-security-headers' })
