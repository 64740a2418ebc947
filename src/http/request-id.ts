import type { IncomingMessage } from 'node:http'

// What a proxy or a client's tracing sends: UUIDs, ULIDs, trace ids. Anything longer or with
// other characters is not echoed in a header or written to the log as it came.
const plainId = /^[A-Za-z0-9._:-]{1,64}$/

let last = 0

/**
 * fastify's `genReqId`: the caller's X-Request-Id when it is short and plain, else one of ours
 * (`req-` and a counter, as fastify's own).
 */
export function requestIdOf (request: IncomingMessage): string {
  const given = request.headers['x-request-id']
  if (typeof given === 'string' && plainId.test(given)) return given
  last = (last + 1) & 0x7fffffff
  return `req-${last.toString(36)}`
}
