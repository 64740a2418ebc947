import { compile } from '@fastify/proxy-addr'

/** What TRUST_PROXY says to believe of X-Forwarded-For, -Proto and -Host. */
export type TrustProxy =
  | { readonly kind: 'none' }
  | { readonly kind: 'all' }
  /** This many proxies in front, counted from the socket's end of the chain. */
  | { readonly kind: 'hops', readonly hops: number }
  /** Proxies at these addresses or in these CIDR ranges. */
  | { readonly kind: 'addresses', readonly addresses: readonly string[] }

export type TrustFunction = (address: string, hop: number) => boolean

/**
 * The setting as the function fastify calls for each hop (0 is the socket's address), or
 * false. Never a bare number: fastify 5.12 takes a numeric trustProxy for "trust no proxy"
 * (it fails closed), so TRUST_PROXY=1, documented for every PaaS, made all clients one.
 */
export function trustFunction (trust: TrustProxy): TrustFunction | false {
  switch (trust.kind) {
    case 'none': return false
    case 'all': return () => true
    case 'hops': {
      const { hops } = trust
      return (_address, hop) => hop < hops
    }
    case 'addresses': return compile([...trust.addresses])
  }
}
