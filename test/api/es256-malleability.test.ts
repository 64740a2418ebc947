import t from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { buildTestApp, post, signIn } from '../helpers/app.js'

// Issue 22, finding 2: an ECDSA signature (r, s) is also valid as (r, n − s), so one ES256
// token has a twin string that verifies. phonepass signs only the low-S form and refuses the
// other; jose (an outside verifier, over HTTP) shows the twin is a valid signature all the same.

const n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551n

function sOf (token: string): bigint {
  return BigInt(`0x${Buffer.from(token.split('.')[2]!, 'base64url').subarray(32).toString('hex')}`)
}

function twin (token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const raw = Buffer.from(signature, 'base64url')
  const flipped = Buffer.from((n - sOf(token)).toString(16).padStart(64, '0'), 'hex')
  return `${header}.${payload}.${Buffer.concat([raw.subarray(0, 32), flipped]).toString('base64url')}`
}

t.test('ES256: phonepass signs low-S only and refuses a token\'s high-S twin, which jose takes', async t => {
  const context = await buildTestApp(t, { JWT_ALGORITHM: 'ES256' })
  const url = await context.app.listen({ port: 0, host: '127.0.0.1' })
  const jwks = createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`))
  const currentDate = new Date(context.clock.now())
  const status = async (token: string): Promise<[number, number]> => [
    (await fetch(`${url}/api/users/me/`, { headers: { authorization: `Bearer ${token}` } })).status,
    (await fetch(`${url}/api/token/verify/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) })).status
  ]

  let pair = await signIn(context, '+79123456701')
  const tokens = [pair.access]
  // OpenSSL picks s from either half at random: 32 tokens all low by chance is 1 in 2^32.
  for (let i = 0; i < 31; i++) {
    const res = await post(context.app, '/api/token/refresh/', { refresh: pair.refresh })
    t.equal(res.statusCode, 200)
    pair = res.json()
    tokens.push(pair.access)
  }
  t.ok(tokens.every(token => sOf(token) <= n / 2n), 'every token phonepass signs has s ≤ n / 2')

  for (const token of [tokens[0]!, tokens.at(-1)!]) {
    const other = twin(token)
    t.not(other, token)
    t.ok(sOf(other) > n / 2n)
    await jwtVerify(token, jwks, { currentDate })
    await jwtVerify(other, jwks, { currentDate })
    t.pass('jose takes both forms: the twin is a valid ES256 signature')
    t.same(await status(token), [200, 200], 'phonepass takes the token it signed')
    t.same(await status(other), [401, 401], 'and refuses its high-S twin, on me and on verify')
  }
})
