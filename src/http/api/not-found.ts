import type { FastifyReply, FastifyRequest } from 'fastify'
import { pickLocale, translate } from '../../i18n/catalogue.js'

/** The admin API's paths: to anyone without an admin key they are unknown paths. */
const adminPath = /^\/api\/admin(?:[/?]|$)/

export function isAdminPath (url: string): boolean {
  return adminPath.test(url)
}

/**
 * The API's answer for a path it does not have: 404 `not_found`. One function, so the admin
 * API's answer to a missing or wrong key (http/api/admin-routes.ts) is this same answer, byte
 * for byte, and tells the caller nothing more than an unknown path does.
 */
export function answerNotFound (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const locale = pickLocale(request.headers['accept-language'])
  return reply.code(404).send({ detail: translate(locale, 'not_found'), code: 'not_found' })
}
