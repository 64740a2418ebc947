import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import secureSession from '@fastify/secure-session'
import type { Config } from '../../config.js'
import type { Keys } from '../../services/keys.js'

declare module '@fastify/secure-session' {
  interface SessionData {
    /** Id of the `sessions` row once signed in: logout ends it on the server. */
    sid: string
    /** The number the code went to, between the two sign-in steps. */
    pendingPhone: string
    /** When a new code may be asked for (epoch ms), to show the wait. */
    resendAt: number
    /** The channel the last code went by (sms, whatsapp, voice), to say so on the code page. */
    sentBy: string
    /** The new number a change of number's code went to, between its two steps. */
    newPhone: string
    attemptsLeft: number
    /** Where to go after sign-in: a local path. */
    next: string
    /** A message for the next page (post-redirect-get). */
    flash: { key: string, count?: number }
    _csrf: string
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    httpsSession: FastifyRequest['session'] | null
  }
}

const plainCookie = 'phonepass'
// The __Host- prefix makes the browser refuse the cookie unless it is Secure, has Path=/ and
// no Domain: a neighbour on the same site cannot plant or overwrite it.
const httpsCookie = '__Host-phonepass'

// The device cookie outlives sign-outs: it proves this browser signed in to the phone before,
// so it keeps its own budget of codes and wrong tries (an attacker cannot lock the owner out).
const plainDeviceCookie = 'phonepass_device'
const httpsDeviceCookie = '__Host-phonepass_device'

export function readDeviceToken (request: FastifyRequest): string | undefined {
  return request.cookies[isHttps(request) ? httpsDeviceCookie : plainDeviceCookie]
}

export function rememberDevice (request: FastifyRequest, reply: FastifyReply, deviceToken: string, ttlDays: number): void {
  reply.setCookie(isHttps(request) ? httpsDeviceCookie : plainDeviceCookie, deviceToken, {
    path: '/', httpOnly: true, sameSite: 'lax', secure: isHttps(request), maxAge: ttlDays * 86_400
  })
}

export function isHttps (request: FastifyRequest): boolean {
  return request.protocol === 'https'
}

/**
 * One encrypted cookie, named and flagged by how the request came: over HTTPS (directly or
 * behind TRUST_PROXY) it is `__Host-phonepass; Secure`, over plain HTTP `phonepass`.
 * secure-session binds a cookie name to a session name, so both are registered and the
 * request's `session` (the one CSRF protection uses) points at the right one.
 */
export async function registerSession (app: FastifyInstance, config: Config, keys: Keys): Promise<void> {
  const maxAge = config.sessionTtlDays * 86_400
  const cookie = { path: '/', httpOnly: true, sameSite: 'lax' as const, maxAge }
  // Runs before secure-session's own onSend (registered below): the plain name is left out.
  app.addHook('onSend', async (request) => {
    if (isHttps(request)) request.session = null as unknown as FastifyRequest['session']
  })
  await app.register(secureSession, [
    { sessionName: 'session', cookieName: plainCookie, key: [...keys.cookie], expiry: maxAge, cookie },
    { sessionName: 'httpsSession', cookieName: httpsCookie, key: [...keys.cookie], expiry: maxAge, cookie: { ...cookie, secure: true } }
  ])
  app.addHook('onRequest', async (request) => {
    if (isHttps(request) && request.httpsSession !== null) request.session = request.httpsSession
  })
}
