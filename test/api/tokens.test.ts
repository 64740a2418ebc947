import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import { createSigner } from 'fast-jwt'
import { deriveKeys } from '../../src/services/keys.js'
import { bearer, buildTestApp, post, signIn, testSecret } from '../helpers/app.js'

const jwtKey = deriveKeys([testSecret]).jwt[0]!

function decode (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
}

async function me (context: Awaited<ReturnType<typeof buildTestApp>>, access: string) {
  return await context.app.inject({ url: '/api/users/me/', headers: bearer(access) })
}

t.test('the access token carries simplejwt\'s claims and lives 15 minutes', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const header = JSON.parse(Buffer.from(alice.access.split('.')[0]!, 'base64url').toString())
  t.match(header, { alg: 'ES256', kid: String }, 'ES256 by default, with the kid of a published key')
  const claims = decode(alice.access)
  t.match(claims, { token_type: 'access', user_id: alice.user.id, sid: /^[0-9a-f]{32}$/, jti: /^[0-9a-f]{32}$/, exp: Number, iat: Number })
  t.equal((claims.exp as number) - (claims.iat as number), 900)
  context.clock.advance(899_000)
  t.equal((await me(context, alice.access)).statusCode, 200)
  context.clock.advance(1_000)
  const expired = await me(context, alice.access)
  t.equal(expired.statusCode, 401)
  t.equal(expired.json().code, 'token_not_valid')
})

t.test('JWT_ALGORITHM=HS256: only HS256 with our key and its kid is accepted', async t => {
  const context = await buildTestApp(t, { JWT_ALGORITHM: 'HS256' })
  const alice = await signIn(context, '+79123456701')
  const { exp, iat, ...rest } = decode(alice.access)
  const payload = { ...rest, exp, iat }
  const { kid } = JSON.parse(Buffer.from(alice.access.split('.')[0]!, 'base64url').toString()) as { kid: string }
  t.match(kid, /^hs256-[\w-]{16}-1$/, 'a kid that names the derived key without revealing it')
  t.notOk(kid.includes(jwtKey.toString('base64url').slice(0, 8)))
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const forged = {
    none: createSigner({ algorithm: 'none' })(payload),
    hs512: createSigner({ algorithm: 'HS512', key: jwtKey, kid })(payload),
    rs256: createSigner({ algorithm: 'RS256', key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, kid })(payload),
    otherKey: createSigner({ algorithm: 'HS256', key: 'not-our-key-not-our-key-not-our-key', kid })(payload),
    refreshAsAccess: createSigner({ algorithm: 'HS256', key: jwtKey, kid })({ ...payload, token_type: 'refresh' }),
    unknownKid: createSigner({ algorithm: 'HS256', key: jwtKey, kid: 'hs256-AAAAAAAAAAAAAAAA-1' })(payload),
    // Without a kid only tokens older than the first stored key pass (test/api/signing-keys.test.ts).
    noKid: createSigner({ algorithm: 'HS256', key: jwtKey })(payload)
  }
  for (const [name, token] of Object.entries(forged)) {
    const res = await me(context, token)
    t.equal(res.statusCode, 401, name)
  }
  const genuine = createSigner({ algorithm: 'HS256', key: jwtKey, kid })(payload)
  t.equal((await me(context, genuine)).statusCode, 200, 'the same claims signed as we sign them pass')
})

t.test('refresh rotates: a new pair, the old refresh token spent', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const res = await post(context.app, '/api/token/refresh/', { refresh: alice.refresh })
  t.equal(res.statusCode, 200)
  const pair = res.json()
  t.match(pair, { access: String, refresh: String, token_type: 'Bearer', expires_in: 900 })
  t.not(pair.refresh, alice.refresh)
  t.equal((await me(context, pair.access)).statusCode, 200)
  const next = await post(context.app, '/api/token/refresh/', { refresh: pair.refresh })
  t.equal(next.statusCode, 200, 'the new refresh token works')
})

/** A sign-in whose refresh token is spent, then presented again `laterMs` after. */
async function refreshThenReuse (t: Test, laterMs: number) {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const rotated = (await post(context.app, '/api/token/refresh/', { refresh: alice.refresh })).json<{ access: string, refresh: string }>()
  context.clock.advance(laterMs)
  const reuse = await post(context.app, '/api/token/refresh/', { refresh: alice.refresh })
  return { context, rotated, reuse }
}

t.test('a spent refresh token presented again after the grace revokes the whole session', async t => {
  const { context, rotated, reuse } = await refreshThenReuse(t, 10_000)
  t.equal(reuse.statusCode, 401)
  t.equal(reuse.json().code, 'token_not_valid')
  t.equal((await me(context, rotated.access)).statusCode, 401, 'the access token of the session is dead')
  t.equal((await post(context.app, '/api/token/refresh/', { refresh: rotated.refresh })).statusCode, 401, 'so is the newest refresh token')
  t.equal((await post(context.app, '/api/token/refresh/', { refresh: 'x'.repeat(43) })).statusCode, 401, 'an unknown token is 401')
})

t.test('a spent refresh token presented again within the grace is refused, and the session kept for the pair given', async t => {
  const { context, rotated, reuse } = await refreshThenReuse(t, 9_999)
  t.equal(reuse.statusCode, 401, 'the spent token gives nothing')
  t.equal(reuse.json().code, 'token_not_valid')
  t.equal((await me(context, rotated.access)).statusCode, 200, 'the pair given for it still works')
  const next = await post(context.app, '/api/token/refresh/', { refresh: rotated.refresh })
  t.equal(next.statusCode, 200, 'and its refresh token too')
})

t.test('REFRESH_REUSE_GRACE_SECONDS=0: any reuse revokes the session', async t => {
  const context = await buildTestApp(t, { REFRESH_REUSE_GRACE_SECONDS: '0' })
  const alice = await signIn(context, '+79123456701')
  const rotated = (await post(context.app, '/api/token/refresh/', { refresh: alice.refresh })).json()
  t.equal((await post(context.app, '/api/token/refresh/', { refresh: alice.refresh })).statusCode, 401)
  t.equal((await me(context, rotated.access)).statusCode, 401, 'the session ended at once')
})

t.test('parallel refreshes with one token: one new pair', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const answers = await Promise.all(Array.from({ length: 10 }, async () => await post(context.app, '/api/token/refresh/', { refresh: alice.refresh })))
  t.equal(answers.filter(res => res.statusCode === 200).length, 1)
})

t.test('refresh stops when the session ends', async t => {
  const context = await buildTestApp(t, { SESSION_TTL_DAYS: '1' })
  const alice = await signIn(context, '+79123456701')
  context.clock.advance(86_400_000)
  t.equal((await post(context.app, '/api/token/refresh/', { refresh: alice.refresh })).statusCode, 401)
})

t.test('logout with the bearer token ends the session at once', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const other = await signIn(context, '+79123456702')
  const res = await context.app.inject({ method: 'POST', url: '/api/users/logout/', headers: bearer(alice.access) })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal((await me(context, alice.access)).statusCode, 401, 'the unexpired access token no longer works')
  t.equal((await post(context.app, '/api/token/refresh/', { refresh: alice.refresh })).statusCode, 401)
  t.equal((await me(context, other.access)).statusCode, 200, 'other sessions are untouched')
})

t.test('logout with the refresh token', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  t.equal((await post(context.app, '/api/users/logout/', { refresh: alice.refresh })).statusCode, 204)
  t.equal((await me(context, alice.access)).statusCode, 401)
  t.equal((await post(context.app, '/api/users/logout/', { refresh: 'unknown-token' })).statusCode, 401)
  t.equal((await context.app.inject({ method: 'POST', url: '/api/users/logout/' })).statusCode, 401, 'neither token: 401')
})

t.test('a session\'s last-seen time follows its use, written at most every 5 minutes', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const lastSeen = async () => (await context.app.db.selectFrom('sessions').select('last_seen_at').executeTakeFirstOrThrow()).last_seen_at
  const signedInAt = await lastSeen()
  context.clock.advance(60_000)
  t.equal((await me(context, alice.access)).statusCode, 200)
  t.equal(await lastSeen(), signedInAt, 'a minute later: not written again')
  context.clock.advance(5 * 60_000)
  t.equal((await me(context, alice.access)).statusCode, 200)
  t.equal(await lastSeen(), signedInAt + 6 * 60_000, 'six minutes later: the time of that request')
})
