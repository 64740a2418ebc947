import { createPublicKey } from 'node:crypto'
import t from 'tap'
import { createSigner } from 'fast-jwt'
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose'
import { bearer, buildTestApp, post, signIn, type TestContext } from '../helpers/app.js'
import { withLowS } from '../helpers/tokens.js'

// The outside verifier is jose (not phonepass's code), fetching the set over real HTTP, as a
// Node backend does: createRemoteJWKSet + jwtVerify.

function b64 (value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

function parts (token: string): { header: Record<string, unknown>, payload: Record<string, unknown>, signature: string } {
  const [header, payload, signature] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(header!, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(payload!, 'base64url').toString()),
    signature: signature!
  }
}

async function phonepassAccepts (context: TestContext, token: string): Promise<boolean> {
  const res = await post(context.app, '/api/token/verify/', { token })
  if (res.statusCode !== 200 && res.json().code !== 'token_not_valid') throw new Error(`verify answered ${res.statusCode}: ${res.body}`)
  return res.statusCode === 200
}

for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
  t.test(`${alg}: jose verifies a fresh token from the published set, and refuses forgeries`, async t => {
    const context = await buildTestApp(t, { JWT_ALGORITHM: alg })
    const url = await context.app.listen({ port: 0, host: '127.0.0.1' })
    const jwksResponse = await fetch(`${url}/.well-known/jwks.json`)
    t.equal(jwksResponse.headers.get('cache-control'), 'public, max-age=300')
    const { keys } = await jwksResponse.json() as { keys: Array<Record<string, unknown>> }
    t.equal(keys.length, 1)
    const [jwk] = keys
    t.match(jwk, { kid: String, alg, use: 'sig', key_ops: ['verify'] })
    for (const privateMember of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) t.notOk(privateMember in jwk!, `no ${privateMember} in the set`)

    const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`))
    const currentDate = new Date(context.clock.now())
    const alice = await signIn(context, '+79123456701')
    const { payload, protectedHeader } = await jwtVerify(alice.access, jwks, { currentDate })
    t.equal(protectedHeader.alg, alg)
    t.equal(protectedHeader.kid, jwk!.kid)
    t.match(payload, { token_type: 'access', user_id: alice.user.id, sid: String, jti: String })
    t.ok(await phonepassAccepts(context, alice.access))

    const { header, payload: claims, signature } = parts(alice.access)
    const forged: Record<string, string> = {
      tampered: `${b64(header)}.${b64({ ...claims, user_id: alice.user.id + 1 })}.${signature}`,
      'alg none': `${b64({ alg: 'none', typ: 'JWT', kid: jwk!.kid })}.${b64(claims)}.`,
      // The classic confusion: the public key, as published, used as an HMAC secret.
      'HS256 keyed with the public key': createSigner({
        algorithm: 'HS256',
        kid: jwk!.kid as string,
        key: createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
      })(claims),
      'refresh token as access token': alice.refresh
    }
    for (const [name, token] of Object.entries(forged)) {
      await t.rejects(jwtVerify(token, jwks, { currentDate }), { code: /^ERR_J(WS|WT|OSE|WK|WKS)_/ }, `jose refuses: ${name}`)
      t.notOk(await phonepassAccepts(context, token), `phonepass refuses: ${name}`)
      t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(token) })).statusCode, 401, `me refuses: ${name}`)
    }
  })
}

t.test('HS256: the set is empty, never the symmetric key', async t => {
  const context = await buildTestApp(t, { JWT_ALGORITHM: 'HS256' })
  const res = await context.app.inject({ url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { keys: [] })
  const alice = await signIn(context, '+79123456701')
  t.ok(await phonepassAccepts(context, alice.access), 'tokens are still signed and checked')
})

t.test('POST /api/token/verify/ answers as simplejwt\'s TokenVerifyView, and sees a revoked session at once', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const ok = await post(context.app, '/api/token/verify/', { token: alice.access })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), {})
  const form = await context.app.inject({ method: 'POST', url: '/api/token/verify/', payload: `token=${alice.access}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(form.statusCode, 200, 'as a form too')
  const missing = await post(context.app, '/api/token/verify/', {})
  t.equal(missing.statusCode, 400)
  t.match(missing.json(), { code: 'validation_error', errors: { token: [String] } })
  const garbage = await post(context.app, '/api/token/verify/', { token: 'not.a.token' })
  t.equal(garbage.statusCode, 401)
  t.equal(garbage.json().code, 'token_not_valid')

  // Signed out: the token's signature and expiry are fine, which is all a JWKS check sees.
  t.equal((await post(context.app, '/api/users/logout/', { refresh: alice.refresh })).statusCode, 204)
  const revoked = await post(context.app, '/api/token/verify/', { token: alice.access })
  t.equal(revoked.statusCode, 401)
  t.equal(revoked.json().code, 'token_not_valid')

  const bob = await signIn(context, '+79123456702')
  context.clock.advance(900_000)
  t.equal((await post(context.app, '/api/token/verify/', { token: bob.access })).statusCode, 401, 'expired')
})

t.test('the set and the verify endpoint are in the OpenAPI document', async t => {
  const context = await buildTestApp(t)
  const doc = (await context.app.inject({ url: '/openapi.json' })).json()
  t.ok(doc.paths['/.well-known/jwks.json'].get.responses['200'])
  t.ok(doc.paths['/api/token/verify/'].post.requestBody.content['application/json'].schema.properties.token)
  t.ok(doc.paths['/api/token/verify/'].post.responses['401'])
})

t.test('JWT_ISSUER and JWT_AUDIENCE: set on every token and required of every token', async t => {
  const context = await buildTestApp(t, { JWT_ISSUER: 'https://auth.example.com', JWT_AUDIENCE: 'example-api' })
  const url = await context.app.listen({ port: 0, host: '127.0.0.1' })
  const jwks = createRemoteJWKSet(new URL(`${url}/.well-known/jwks.json`))
  const alice = await signIn(context, '+79123456701')
  const { payload } = await jwtVerify(alice.access, jwks, { currentDate: new Date(context.clock.now()), issuer: 'https://auth.example.com', audience: 'example-api' })
  t.match(payload, { iss: 'https://auth.example.com', aud: 'example-api' })
  // Signed with the very key in use, but for another issuer or audience.
  const key = context.app.signingKeys.signingKey()
  const signs = createSigner({ algorithm: 'ES256', key: key.key, kid: key.kid })
  const sign = (claims: Record<string, unknown>) => withLowS(signs(claims))
  const claims = parts(alice.access).payload
  t.ok(await phonepassAccepts(context, sign(claims)), 'the same claims signed with the key in use pass')
  t.notOk(await phonepassAccepts(context, sign({ ...claims, iss: 'https://evil.example.com' })), 'another issuer')
  t.notOk(await phonepassAccepts(context, sign({ ...claims, aud: 'other-api' })), 'another audience')
  const { iss: _iss, aud: _aud, ...bare } = claims
  t.notOk(await phonepassAccepts(context, sign(bare)), 'none')
})
