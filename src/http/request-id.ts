import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'

// What a proxy or a client's tracing sends: UUIDs, ULIDs, trace ids. Anything longer or with
// other characters is not echoed in a header or written to the log as it came.
const plainId = /^[A-Za-z0-9._:-]{1,64}$/

let last = 0
// Our own id of a request whose caller sent one: the audit log keeps both, since anyone may
// send any X-Request-Id (another request's, say).
const ownIds = new WeakMap<IncomingMessage, string>()

function nextId (): string {
  last = (last + 1) & 0x7fffffff
  return `req-${last.toString(36)}`
}

/**
 * fastify's `genReqId`: the caller's X-Request-Id when it is short and plain, else one of ours
 * (`req-` and a counter, as fastify's own). One of ours is made either way (serverRequestIdOf).
 */
export function requestIdOf (request: IncomingMessage): string {
  const own = nextId()
  const given = request.headers['x-request-id']
  if (typeof given === 'string' && plainId.test(given)) {
    ownIds.set(request, own)
    return given
  }
  return own
}

/** The id the server gave the request: request.id, unless that is the caller's X-Request-Id. */
export function serverRequestIdOf (request: FastifyRequest): string {
  return ownIds.get(request.raw) ?? request.id
}
