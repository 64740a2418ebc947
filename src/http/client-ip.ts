import { isIP } from 'node:net'
import type { FastifyRequest } from 'fastify'

// The sessions' and codes' ip columns hold 64 characters; any real address fits.
const maxAddressLength = 64

function isAddress (value: string | undefined): value is string {
  return value !== undefined && value.length <= maxAddressLength && isIP(value) !== 0
}

/**
 * The client's address, for limits and the list of sessions. Behind TRUST_PROXY, request.ip
 * is whatever X-Forwarded-For claimed, which may be no address at all (or kilobytes of text):
 * then the nearest hop that is an address is taken, at worst the proxy's own.
 */
export function clientIp (request: FastifyRequest): string {
  // request.ips runs from the socket's address to the client's claimed one.
  const hops = request.ips ?? [request.ip]
  for (let i = hops.length - 1; i >= 0; i--) {
    if (isAddress(hops[i])) return hops[i] as string
  }
  return request.socket.remoteAddress ?? 'unknown'
}
