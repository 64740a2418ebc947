// An ECDSA signature (r, s) is also valid as (r, n − s): from one token anyone can make a second
// string that verifies. Tokens are kept to the low half (s ≤ n / 2, as Bitcoin's BIP 62 and
// libsecp256k1 do), so a token has one form only. The JWS form of ES256 is r ‖ s, 32 bytes each.

const p256Order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551n
const p256HalfOrder = p256Order >> 1n
const partBytes = 32

function sOf (signature: Buffer): bigint {
  return BigInt(`0x${signature.subarray(partBytes).toString('hex')}`)
}

/** True for a 64-byte ES256 signature whose s is in the low half. */
export function isLowS (signature: Buffer): boolean {
  return signature.length === 2 * partBytes && sOf(signature) <= p256HalfOrder
}

/** The same signature with s in the low half (n − s when it is not). */
export function toLowS (signature: Buffer): Buffer {
  if (signature.length !== 2 * partBytes || isLowS(signature)) return signature
  const s = (p256Order - sOf(signature)).toString(16).padStart(2 * partBytes, '0')
  return Buffer.concat([signature.subarray(0, partBytes), Buffer.from(s, 'hex')])
}
