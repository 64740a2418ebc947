import t from 'tap'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { loadConfig } from '../../src/config.js'
import { createOperatorService } from '../../src/services/operator-service.js'
import { deriveKeys } from '../../src/services/keys.js'
import { appsOnOneDatabase, bearer, post, signInFixed, testSecret } from '../helpers/app.js'
import { withLowS } from '../helpers/tokens.js'

// Keys live in the database: apps built one after the other (a restart, a new secret, a new
// algorithm) or side by side on one database see the same keys. Each test moves one clock.

const phone = '+15550100001'
const ttlMs = 900_000
const leadMs = 3_600_000
const skewMs = 60_000
const otherSecret = 'another-secret-that-is-long-enough-9876543210'

async function setup (t: { teardown: (fn: () => unknown) => void }) {
  const { appWith, close, clock, env } = await appsOnOneDatabase(t, phone)
  const operator = (app: FastifyInstance, extra: Record<string, string> = {}) => createOperatorService({ db: app.db, config: loadConfig(env(extra)), clock })
  return { appWith, close, clock, operator }
}

const signIn = async (app: FastifyInstance) => await signInFixed(app, phone)

async function refresh (app: FastifyInstance, pair: { refresh: string }): Promise<{ access: string, refresh: string }> {
  const res = await post(app, '/api/token/refresh/', { refresh: pair.refresh })
  if (res.statusCode !== 200) throw new Error(`refresh answered ${res.statusCode}: ${res.body}`)
  return res.json()
}

function header (token: string): { alg: string, kid?: string } {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())
}

function claims (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
}

async function accepts (app: FastifyInstance, token: string): Promise<boolean> {
  return (await app.inject({ url: '/api/users/me/', headers: bearer(token) })).statusCode === 200
}

async function published (app: FastifyInstance): Promise<string[]> {
  return (await app.inject({ url: '/.well-known/jwks.json' })).json<{ keys: Array<{ kid: string }> }>().keys.map(key => key.kid)
}

t.test('a rotation: the new key is published a lead before it signs; the old one verifies until its tokens expire, then leaves', async t => {
  const { appWith, clock, operator } = await setup(t)
  const app = await appWith()
  const first = await signIn(app)
  const oldKid = header(first.access).kid!
  const oldKey = app.signingKeys.signingKey()
  t.same(await published(app), [oldKid])

  const rotation = await operator(app).rotateKeys()
  t.equal(rotation.rotated, true)
  t.same(rotation.keys.map(key => key.state), ['in_use', 'standby'])
  const newKid = rotation.keys[1]!.kid
  t.equal((await operator(app).rotateKeys()).rotated, false, 'a second rotation while one waits is refused')
  await app.signingKeys.reload()
  t.same(await published(app), [oldKid, newKid], 'published at once')
  t.equal(header((await refresh(app, first)).access).kid, oldKid, 'but not signing yet')

  clock.advance(leadMs - 1000)
  const lastOld = await refresh(app, await signIn(app))
  t.equal(header(lastOld.access).kid, oldKid, 'the old key signs until the lead has passed')
  clock.advance(1000)
  const firstNew = await refresh(app, lastOld)
  t.equal(header(firstNew.access).kid, newKid, 'then new tokens carry the new kid')
  t.ok(await accepts(app, lastOld.access), 'the old key\'s tokens still verify')
  t.same(await published(app), [oldKid, newKid], 'and it stays published')

  // A token of the old key made to outlive it (its private key leaked, say): no token lives
  // longer than ACCESS_TOKEN_TTL_SECONDS (issue 22), and the key retires after its last one.
  const signs = createSigner({ algorithm: 'ES256', key: oldKey.key, kid: oldKid })
  const sign = (claims: Record<string, unknown>) => withLowS(signs(claims))
  const longLived = sign({ ...claims(lastOld.access), exp: Math.floor(clock.now() / 1000) + 86_400 })
  t.notOk(await accepts(app, longLived), 'exp − iat above the lifetime: refused at once')
  const latest = Math.floor(clock.now() / 1000) + skewMs / 1000
  const aheadByTheSkew = sign({ ...claims(lastOld.access), iat: latest, exp: latest + ttlMs / 1000 })
  t.ok(await accepts(app, aheadByTheSkew), 'the latest a holder of the key can make live')
  clock.advance(ttlMs - 2000)
  t.ok(await accepts(app, lastOld.access), 'until it expires')
  clock.advance(2000)
  t.notOk(await accepts(app, lastOld.access), 'expired')
  clock.advance(skewMs)
  t.notOk(await accepts(app, aheadByTheSkew), 'expired too when the key retires')
  t.same(await published(app), [newKid], 'the retired key leaves the set')
  t.same((await operator(app).listKeys()).map(key => key.state), ['retired', 'in_use'])
})

t.test('a restart keeps the keys; a second app on the same database signs and publishes the same', async t => {
  const { appWith, close } = await setup(t)
  const before = await appWith()
  const pair = await signIn(before)
  const set = await published(before)
  await close(before)
  const after = await appWith()
  t.same(await published(after), set)
  t.ok(await accepts(after, pair.access))
  t.equal(header((await refresh(after, pair)).access).kid, header(pair.access).kid)
  const beside = await appWith()
  t.same(await published(beside), set)
  t.equal(header((await signIn(beside)).access).kid, set[0])
})

t.test('rotating PHONEPASS_SECRET keeps the stored keys readable; with every secret gone a new key signs', async t => {
  const { appWith, close, clock } = await setup(t)
  const original = await appWith()
  const pair = await signIn(original)
  const kid = header(pair.access).kid!
  const sealed = async (app: FastifyInstance) => (await app.db.selectFrom('signing_keys').select('private_key').where('kid', '=', kid).executeTakeFirstOrThrow()).private_key
  const sealedBefore = await sealed(original)
  await close(original)

  const rotated = await appWith({ PHONEPASS_SECRET: `${otherSecret},${testSecret}` })
  t.ok(await accepts(rotated, pair.access))
  const next = await refresh(rotated, pair)
  t.equal(header(next.access).kid, kid, 'the same key signs')
  t.not(await sealed(rotated), sealedBefore, 'opened with the older secret, it is sealed again under the first')
  await close(rotated)

  const newOnly = await appWith({ PHONEPASS_SECRET: otherSecret })
  t.ok(await accepts(newOnly, next.access))
  t.equal(header((await refresh(newOnly, next)).access).kid, kid, 'the old secret dropped: the key is still read')
  t.equal((await newOnly.db.selectFrom('signing_keys').select('kid').execute()).length, 1, 'and no other key was made')
  await close(newOnly)

  const lines: string[] = []
  const lost = await appWith({ PHONEPASS_SECRET: 'a-third-secret-unrelated-to-the-others-000' }, lines)
  t.match(lines.join(''), /no PHONEPASS_SECRET in the list decrypts its private key/, 'a clear log line, not a crash')
  const fresh = await signIn(lost)
  t.not(header(fresh.access).kid, kid, 'a new key signs at once')
  t.ok(await accepts(lost, fresh.access))
  t.ok(await accepts(lost, next.access), 'tokens of the unreadable key still verify with its public key')
  t.equal((await published(lost)).length, 2)
  clock.advance(ttlMs + skewMs)
  t.same(await published(lost), [header(fresh.access).kid], 'the unreadable key retires as a rotated one does')
})

t.test('switching JWT_ALGORITHM signs no one out: the previous configuration signs until the new key is published, and verifies until expiry', async t => {
  const { appWith, close, clock } = await setup(t)
  const es = await appWith({ JWT_ALGORITHM: 'ES256' })
  const esPair = await signIn(es)
  await close(es)
  const rs = await appWith({ JWT_ALGORITHM: 'RS256' })
  t.ok(await accepts(rs, esPair.access))
  const during = await refresh(rs, esPair)
  t.equal(header(during.access).alg, 'ES256', 'the new key is published before it signs')
  const jwks = (await rs.inject({ url: '/.well-known/jwks.json' })).json<{ keys: Array<{ alg: string }> }>()
  t.same(jwks.keys.map(key => key.alg), ['ES256', 'RS256'])
  clock.advance(leadMs - 1000)
  const lastEs = await refresh(rs, during)
  t.equal(header(lastEs.access).alg, 'ES256')
  clock.advance(1000)
  const after = await refresh(rs, lastEs)
  t.equal(header(after.access).alg, 'RS256')
  t.ok(await accepts(rs, lastEs.access), 'an ES256 token from before still verifies')
  clock.advance(ttlMs + skewMs)
  t.same((await rs.inject({ url: '/.well-known/jwks.json' })).json<{ keys: Array<{ alg: string }> }>().keys.map(key => key.alg), ['RS256'])
})

t.test('from HS256 to ES256: HS256 tokens verify until they expire, then HS256 is refused', async t => {
  const { appWith, close, clock } = await setup(t)
  const hs = await appWith({ JWT_ALGORITHM: 'HS256' })
  const hsPair = await signIn(hs)
  const hsKid = header(hsPair.access).kid!
  await close(hs)
  const es = await appWith({ JWT_ALGORITHM: 'ES256' })
  t.ok(await accepts(es, hsPair.access))
  t.same(await published(es), [(await es.db.selectFrom('signing_keys').select('kid').where('alg', '=', 'ES256').executeTakeFirstOrThrow()).kid], 'the HS256 key is never published')
  clock.advance(leadMs)
  const esPair = await refresh(es, hsPair)
  t.equal(header(esPair.access).alg, 'ES256')
  const jwtKey = deriveKeys([testSecret]).jwt[0]!
  const forged = createSigner({ algorithm: 'HS256', key: jwtKey, kid: hsKid })({ ...claims(hsPair.access), iat: Math.floor(clock.now() / 1000), exp: Math.floor(clock.now() / 1000) + 900 })
  t.ok(await accepts(es, forged), 'HS256 is still taken while its last tokens live')
  clock.advance(ttlMs + skewMs)
  const late = createSigner({ algorithm: 'HS256', key: jwtKey, kid: hsKid })({ ...claims(hsPair.access), iat: Math.floor(clock.now() / 1000), exp: Math.floor(clock.now() / 1000) + 900 })
  t.notOk(await accepts(es, late), 'then no longer, even from whoever holds the secret')
})

t.test('tokens without a kid, signed before keys were stored, verify until they expire; later ones never', async t => {
  const { appWith, clock } = await setup(t)
  const app = await appWith()
  const pair = await signIn(app)
  const now = Math.floor(clock.now() / 1000)
  const jwtKey = deriveKeys([testSecret]).jwt[0]!
  const legacy = (iat: number) => createSigner({ algorithm: 'HS256', key: jwtKey })({ ...claims(pair.access), iat, exp: iat + 900 })
  t.notOk(header(legacy(now)).kid)
  const before = legacy(now - 60)
  t.ok(await accepts(app, before), 'issued before the first key: accepted')
  t.notOk(await accepts(app, legacy(now)), 'issued since: refused')
  clock.advance(840_000)
  t.notOk(await accepts(app, before), 'expired')
})

t.test('revoking the key in use: a new key signs at once and the revoked key\'s tokens fail at once', async t => {
  const { appWith, operator, clock } = await setup(t)
  const app = await appWith()
  const other = await appWith()
  const pair = await signIn(app)
  const kid = header(pair.access).kid!
  const result = await operator(app).revokeKey(kid)
  t.same(result.keys.map(key => key.state), ['revoked', 'in_use'])
  await app.signingKeys.reload()
  t.notOk(await accepts(app, pair.access))
  t.notSame(await published(app), [kid])
  const fresh = await signIn(app)
  t.not(header(fresh.access).kid, kid)
  await t.rejects(operator(app).revokeKey('no-such-kid'), { code: 'not_found' })

  // The other instance has not read the set since: a token with a kid it does not know makes
  // it read the set again (at most every 10 s), and it then knows of the revocation too.
  clock.advance(10_000)
  t.ok(await accepts(other, fresh.access), 'an unknown kid is looked up')
  t.notOk(await accepts(other, pair.access), 'and the revoked key is refused there too')
})

t.test('JWT_KEY_ROTATION_DAYS: a key signs that long, then the next is published', async t => {
  const { appWith, clock } = await setup(t)
  const app = await appWith({ JWT_KEY_ROTATION_DAYS: '1' })
  clock.advance(86_400_000 - 1000)
  await app.signingKeys.reload()
  t.equal((await published(app)).length, 1)
  clock.advance(1000)
  await app.signingKeys.reload()
  t.equal((await published(app)).length, 2, 'the next key is published')
  await app.signingKeys.reload()
  t.equal((await published(app)).length, 2, 'once')
})
