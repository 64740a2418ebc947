import { randomBytes } from 'node:crypto'
import t from 'tap'
import { SignJWT, importPKCS8 } from 'jose'
import type { FastifyInstance } from 'fastify'
import { deriveKeys } from '../../src/services/keys.js'
import { appsOnOneDatabase, signInFixed, testSecret } from '../helpers/app.js'
import { withLowS } from '../helpers/tokens.js'

// Issue 22, finding 1: a token with no kid, HS256 under the key VERIFYING-TOKENS.md hands to
// other services, is taken only while tokens from before the first stored key can live; and no
// token, on any path, lives longer than ACCESS_TOKEN_TTL_SECONDS. Forged with jose (an outside
// signer), checked over real HTTP on GET /api/users/me/ and POST /api/token/verify/.

const phone = '+15550100001'
const ttlS = 900
const leadMs = 3_600_000
const year2100 = Date.UTC(2100, 0, 1) / 1000

async function setup (t: { teardown: (fn: () => unknown) => void }) {
  const apps = await appsOnOneDatabase(t, phone)
  /** An app on the shared database, listening: these tokens are checked over real HTTP. */
  async function appWith (extra: Record<string, string> = {}): Promise<{ app: FastifyInstance, url: string }> {
    const app = await apps.appWith(extra)
    return { app, url: await app.listen({ port: 0, host: '127.0.0.1' }) }
  }
  return { appWith, clock: apps.clock }
}

const signIn = async (app: FastifyInstance) => await signInFixed(app, phone)

function claimsOf (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
}

function kidOf (token: string): string | undefined {
  return (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid?: string }).kid
}

/** The answers of `me` and of the verify endpoint, over HTTP. */
async function answers (url: string, token: string): Promise<[number, number]> {
  const me = await fetch(`${url}/api/users/me/`, { headers: { authorization: `Bearer ${token}` } })
  const verify = await fetch(`${url}/api/token/verify/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) })
  return [me.status, verify.status]
}

// The key docs/VERIFYING-TOKENS.md tells HS256 deployments to give other services.
const handedOutKey = deriveKeys([testSecret]).jwt[0]!

async function kidless (claims: Record<string, unknown>, iat: number, exp: number): Promise<string> {
  return await new SignJWT({ ...claims, jti: randomBytes(16).toString('hex') })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt(iat).setExpirationTime(exp).sign(handedOutKey)
}

t.test('HS256 → ES256: a kid-less token with exp in 2100 and a live sid is refused; the kid-less window closes one lifetime after the first key', async t => {
  const { appWith, clock } = await setup(t)
  const hs = await appWith({ JWT_ALGORITHM: 'HS256' })
  const firstKeyAt = Math.floor(clock.now() / 1000)
  const live = claimsOf((await signIn(hs.app)).access)

  const old = await kidless(live, firstKeyAt - 60, firstKeyAt - 60 + ttlS)
  t.equal(kidOf(old), undefined)
  t.same(await answers(hs.url, old), [200, 200], 'issued before the first key, for one lifetime: taken')
  const forever = await kidless(live, firstKeyAt - 60, year2100)
  t.same(await answers(hs.url, forever), [401, 401], 'the same with exp in 2100: refused')

  const es = await appWith({ JWT_ALGORITHM: 'ES256' })
  t.same(await answers(es.url, old), [200, 200], 'an instance started later draws the same window from the table')
  clock.advance(leadMs)
  t.equal(kidOf((await signIn(es.app)).access)?.startsWith('hs256-'), false, 'ES256 signs now')
  for (const iat of [0, firstKeyAt - 60, firstKeyAt - 1, firstKeyAt]) {
    t.same(await answers(es.url, await kidless(live, iat, year2100)), [401, 401], `kid-less, iat ${iat === 0 ? "1970" : `${iat - firstKeyAt} s from the first key`}, exp 2100: refused`)
  }
  t.same(await answers(hs.url, await kidless(live, firstKeyAt - 60, year2100)), [401, 401], 'on the first instance too')
  const later = await appWith({ JWT_ALGORITHM: 'ES256' })
  t.same(await answers(later.url, await kidless(live, 0, year2100)), [401, 401], 'and on one started after the switch')
})

t.test('the kid-less window closes for good at the first key + ACCESS_TOKEN_TTL_SECONDS, whatever a token claims', async t => {
  const { appWith, clock } = await setup(t)
  const { app, url } = await appWith()
  const firstKeyAt = Math.floor(clock.now() / 1000)
  const live = claimsOf((await signIn(app)).access)
  const edge = await kidless(live, firstKeyAt - 1, firstKeyAt - 1 + ttlS)
  clock.advance((ttlS - 2) * 1000)
  t.same(await answers(url, edge), [200, 200], 'a legitimate kid-less token, within the window')
  clock.advance(2000)
  t.same(await answers(url, edge), [401, 401], 'closed')
  t.same(await answers(url, await kidless(live, firstKeyAt - 1, year2100)), [401, 401], 'closed for every kid-less token')
})

t.test('exp − iat above ACCESS_TOKEN_TTL_SECONDS is refused on every path: kid-less, HS256 with a kid, ES256', async t => {
  const { appWith, clock } = await setup(t)
  const hs = await appWith({ JWT_ALGORITHM: 'HS256' })
  const firstKeyAt = Math.floor(clock.now() / 1000)
  const hsToken = (await signIn(hs.app)).access
  const live = claimsOf(hsToken)
  const hsKid = kidOf(hsToken)!

  t.same(await answers(hs.url, await kidless(live, firstKeyAt - 60, firstKeyAt - 60 + ttlS)), [200, 200], 'kid-less, one lifetime')
  t.same(await answers(hs.url, await kidless(live, firstKeyAt - 60, firstKeyAt - 60 + ttlS + 1)), [401, 401], 'kid-less, a second more')

  const now = Math.floor(clock.now() / 1000)
  const withHsKid = async (iat: number | undefined, exp: number) => {
    const jwt = new SignJWT({ ...live, iat: undefined, jti: randomBytes(16).toString('hex') }).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: hsKid }).setExpirationTime(exp)
    return await (iat === undefined ? jwt : jwt.setIssuedAt(iat)).sign(handedOutKey)
  }
  t.same(await answers(hs.url, await withHsKid(now, now + ttlS)), [200, 200], 'HS256 with its kid, one lifetime')
  t.same(await answers(hs.url, await withHsKid(now, now + ttlS + 1)), [401, 401], 'HS256 with its kid, a second more')
  t.same(await answers(hs.url, await withHsKid(now, year2100)), [401, 401], 'HS256 with its kid, exp 2100')
  t.same(await answers(hs.url, await withHsKid(undefined, now + 60)), [401, 401], 'HS256 with its kid, no iat')
  t.same(await answers(hs.url, await withHsKid(now + 3600, now + 3600 + ttlS)), [401, 401], 'HS256 with its kid, issued an hour ahead')

  const es = await appWith({ JWT_ALGORITHM: 'ES256' })
  clock.advance(leadMs)
  const esNow = Math.floor(clock.now() / 1000)
  const key = es.app.signingKeys.signingKey()
  t.equal(key.alg, 'ES256')
  const privateKey = await importPKCS8(key.key as string, 'ES256')
  const withEsKid = async (iat: number, exp: number) => withLowS(await new SignJWT({ ...live, jti: randomBytes(16).toString('hex') })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid }).setIssuedAt(iat).setExpirationTime(exp).sign(privateKey))
  t.same(await answers(es.url, await withEsKid(esNow, esNow + ttlS)), [200, 200], 'ES256, one lifetime')
  t.same(await answers(es.url, await withEsKid(esNow, esNow + ttlS + 1)), [401, 401], 'ES256, a second more')
  t.same(await answers(es.url, await withEsKid(esNow - 60, year2100)), [401, 401], 'ES256, exp 2100')
})
