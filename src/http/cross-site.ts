import type { FastifyRequest } from 'fastify'

const noOrigins: ReadonlySet<string> = new Set()

/**
 * Whether a browser says this request comes from another site: its Sec-Fetch-Site, or failing
 * that its Origin, names a place that is neither this origin nor one of `allowedOrigins`
 * (CORS_ORIGINS, for the API). Apps and scripts send neither header, so nothing is refused
 * for them. Both faces ask here: the pages with no allowed origins, the API with CORS_ORIGINS.
 */
export function isCrossSite (request: FastifyRequest, allowedOrigins: ReadonlySet<string> = noOrigins): boolean {
  const origin = request.headers.origin
  const allowed = origin !== undefined && allowedOrigins.has(origin)
  if (origin !== undefined && !allowed && origin !== `${request.protocol}://${request.host}`) return true
  const fetchSite = request.headers['sec-fetch-site']
  return fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none' && !allowed
}

/** Methods that change something: the ones a cross-site page must not make a browser send. */
export const unsafeMethods: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

// The types a page on any site can send without a preflight (a form, a fetch with no-cors).
const simpleTypes = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'])

/**
 * Whether a browser would send this body from another site without asking first (no CORS
 * preflight): a form, multipart, text, or a body with no type at all. JSON needs a preflight,
 * which only CORS_ORIGINS pass.
 */
export function needsNoPreflight (request: FastifyRequest): boolean {
  const type = request.headers['content-type']
  if (type === undefined) return true
  const essence = type.split(';', 1)[0]?.trim().toLowerCase() ?? ''
  return essence === '' || simpleTypes.has(essence)
}
