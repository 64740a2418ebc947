import { toLowS } from '../../src/domain/ecdsa-signature.js'

/**
 * A token a test signed with ES256 (fast-jwt, jose: either half of s at random) in the one form
 * phonepass takes, its low-S form; any other token as it is.
 */
export function withLowS (token: string): string {
  const dot = token.lastIndexOf('.')
  const header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString()) as { alg?: string }
  if (header.alg !== 'ES256') return token
  return `${token.slice(0, dot + 1)}${toLowS(Buffer.from(token.slice(dot + 1), 'base64url')).toString('base64url')}`
}
