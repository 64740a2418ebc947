import t from 'tap'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp, post, signIn, type SignedIn, type TestContext } from '../helpers/app.js'
import { checkInvariants } from '../helpers/invariants.js'
import {
  acceptLanguage, authorizationJunk, contentType, cookieJunk, encodeBody, forwardedFor, headerText, oddBody, oddString,
  prototypeSnapshot, queryString, fuzzParameters, replaceReal, sessionIdOf, showsInternals
} from './arbitraries.js'

// Every API route under generated bodies, query strings and headers, on apps that trust a
// proxy in each way TRUST_PROXY allows. The answer is never a 5xx (but a 503 with
// Retry-After), every refusal is JSON with a detail a person can read, no prototype is
// polluted, and the database invariants hold afterwards.

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE' | 'OPTIONS' | 'PROPFIND'

const routes: Array<{ method: Method, url: string, fields: string[] }> = [
  { method: 'POST', url: '/api/users/register/', fields: ['phone', 'device_token'] },
  { method: 'POST', url: '/api/users/verify_code/', fields: ['phone', 'auth_code', 'device_token'] },
  { method: 'GET', url: '/api/users/me/', fields: [] },
  { method: 'GET', url: '/api/users/me/invited/', fields: [] },
  { method: 'GET', url: '/api/profile/', fields: [] },
  { method: 'PATCH', url: '/api/profile/', fields: ['invite_code'] },
  { method: 'PUT', url: '/api/profile/', fields: ['invite_code'] },
  { method: 'POST', url: '/api/token/refresh/', fields: ['refresh'] },
  { method: 'POST', url: '/api/users/logout/', fields: ['refresh'] },
  // Without the trailing slash, with the wrong method, and a path the API does not have.
  { method: 'PATCH', url: '/api/profile', fields: ['invite_code'] },
  { method: 'DELETE', url: '/api/profile/', fields: [] },
  { method: 'POST', url: '/api/users/me/', fields: ['phone'] },
  { method: 'GET', url: '/api/users/nobody/', fields: [] },
  { method: 'OPTIONS', url: '/api/users/register/', fields: ['phone'] },
  { method: 'PROPFIND', url: '/api/profile/', fields: [] }
]

// Stand-ins the run replaces with real values, so some bodies reach the services with
// genuine tokens and codes rather than only being refused by the schema.
const realRefresh = '«refresh»'
const realInvite = '«invite»'
const realPhone = '+15550100001'

function realBody (fields: string[]) {
  return fc.dictionary(
    fc.constantFrom(...fields),
    fc.oneof(oddString, fc.constantFrom(realRefresh, realInvite, realPhone, ' +1 (555) 010-0001 ', '1234')),
    { minKeys: 1, maxKeys: 3 }
  ).map(json => ({ json }))
}

// Headers of every kind a client or a proxy sends, none of which may turn an answer into a 5xx.
const headerArbitraries = {
  'accept-language': acceptLanguage,
  cookie: cookieJunk,
  'x-forwarded-for': forwardedFor,
  'x-forwarded-proto': fc.oneof(fc.constantFrom('https', 'http', 'HTTPS', 'https, http', 'ftp', ''), headerText),
  'x-forwarded-host': fc.oneof(fc.constantFrom('evil.example', 'a:1:2', '[::1]', ''), headerText),
  'user-agent': headerText,
  'x-request-id': headerText,
  accept: fc.oneof(fc.constantFrom('text/html', 'application/xml', '*/*;q=0', 'application/json;q=abc'), headerText)
}
const oddHeaders = fc.record(headerArbitraries, { requiredKeys: [] })
// With good requests, a forwarded address always: what it becomes is stored and counted.
const oddHeadersForwarded = fc.record(headerArbitraries, { requiredKeys: ['x-forwarded-for'] })

// Choices are drawn evenly (fast-check favours the first entries otherwise).
const request = fc.record({
  app: fc.nat(),
  route: fc.oneof({ weight: 9, arbitrary: fc.noBias(fc.constantFrom(...routes.slice(0, 9))) }, fc.noBias(fc.constantFrom(...routes.slice(9)))),
  credentials: fc.noBias(fc.constantFrom('none', 'junk', 'standing', 'fresh')),
  auth: authorizationJunk,
  contentType,
  query: fc.option(queryString, { nil: undefined }),
  headers: oddHeaders
}).chain(base => fc.record({
  base: fc.constant(base),
  body: fc.oneof(oddBody(base.route.fields.length > 0 ? base.route.fields : ['phone']), base.route.fields.length > 0 ? realBody(base.route.fields) : fc.constant({ json: {} }))
}))

/** What is wrong with an API answer, or undefined when it is as it must be. */
function problemWith (res: LightMyRequestResponse): string | undefined {
  if (res.statusCode >= 500 && !(res.statusCode === 503 && res.headers['retry-after'] !== undefined)) return `status ${res.statusCode}`
  if (showsInternals(res.body)) return 'internals in the body'
  if (res.statusCode < 400) return undefined
  if (!String(res.headers['content-type']).startsWith('application/json')) return `a ${res.statusCode} of type ${res.headers['content-type']}`
  let parsed: { detail?: unknown, code?: unknown }
  try {
    parsed = res.json()
  } catch {
    return 'a refusal that is not JSON'
  }
  if (typeof parsed.detail !== 'string' || parsed.detail.trim() === '') return 'no detail'
  if (typeof parsed.code !== 'string' || parsed.detail === parsed.code) return 'no readable detail beside the code'
  return undefined
}

async function freshSignIn (context: TestContext): Promise<SignedIn> {
  // A test number: a fixed code, no SMS, no send quota, so a run may sign in as often as it likes.
  await post(context.app, '/api/users/register/', { phone: realPhone })
  const res = await post(context.app, '/api/users/verify_code/', { phone: realPhone, auth_code: '1234' })
  if (res.statusCode !== 200) throw new Error(`test number sign-in answered ${res.statusCode}: ${res.body}`)
  return res.json<SignedIn>()
}

type Operation = 'register' | 'registerReal' | 'verify' | 'refresh' | 'logout' | 'me' | 'profile' | 'invited' | 'invite'

const goodRequest = fc.record({
  app: fc.nat(),
  operation: fc.noBias(fc.constantFrom<Operation>('register', 'registerReal', 'verify', 'refresh', 'logout', 'me', 'profile', 'invited', 'invite')),
  notation: fc.nat(),
  // Mostly the plain type, whose good requests must get through; the rest only must not fail.
  contentType: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') }, contentType),
  auth: fc.option(authorizationJunk, { nil: undefined }),
  headers: oddHeadersForwarded
})

const testNotations = [realPhone, ' +1 (555) 010-0001 ', '+1 555 010 0001']
const realNotations = ['+79123456711', '8 (912) 345-67-12', '+7 912 345 67 13', '9123456714']

interface AppSetup { context: TestContext, standing: SignedIn, otherCode: string, ended: Set<string> }

t.test('every API route under odd bodies, queries and headers: never a 5xx, always a detail, invariants hold', async t => {
  const before = prototypeSnapshot()
  // Limits high enough that most requests reach validation and the services, not a quota.
  const env = { OTP_RESEND_SECONDS: '0', LIMIT_CODES_PER_IP_HOUR: '100000', LIMIT_CODES_PER_PHONE_HOUR: '1000', LIMIT_CODES_PER_PHONE_DAY: '10000', LIMIT_WRONG_CODES_PER_IP_HOUR: '100000' }
  // Direct, and behind a proxy trusted in each way TRUST_PROXY allows.
  const apps: AppSetup[] = await Promise.all(['false', 'true', '1', '127.0.0.1, ::1'].map(async trust => {
    const context = await buildTestApp(t, { ...env, TRUST_PROXY: trust })
    const other = await signIn(context, '+79123456789')
    return { context, standing: await freshSignIn(context), otherCode: other.user.invite_code, ended: new Set<string>() }
  }))
  const statuses = new Map<number, number>()
  const count = (res: LightMyRequestResponse) => statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)

  const odd = fuzzParameters<[{ base: unknown, body: unknown }]>({ sqlite: 600, postgres: 150 })
  let seen = 0
  await fc.assert(fc.asyncProperty(request, async ({ base, body }) => {
    seen++
    const { context, standing, otherCode, ended } = apps[base.app % apps.length]!
    const real: Record<string, string> = { [realInvite]: otherCode }
    // The standing session is for requests that do not end it; a sign-out gets one of its own.
    const credentials = base.route.url === '/api/users/logout/' && base.credentials === 'standing' ? 'fresh' : base.credentials
    let fresh: SignedIn | undefined
    if (credentials === 'fresh' || JSON.stringify(body.json ?? '').includes(realRefresh)) {
      fresh = await freshSignIn(context)
      real[realRefresh] = fresh.refresh
    }
    const headers: Record<string, string> = { ...base.headers, 'content-type': base.contentType }
    if (credentials === 'junk') headers.authorization = base.auth
    if (credentials === 'standing') headers.authorization = `Bearer ${standing.access}`
    if (credentials === 'fresh' && fresh !== undefined) headers.authorization = `Bearer ${fresh.access}`
    const wire = { ...body, json: replaceReal(body.json, real) }
    const url = base.query === undefined ? base.route.url : `${base.route.url}?${base.query}`
    const res = await context.app.inject({ method: base.route.method, url, headers, payload: encodeBody(wire, base.contentType) })
    count(res)
    const problem = problemWith(res)
    if (problem !== undefined) throw new Error(`${problem}: ${base.route.method} ${url} → ${res.statusCode} ${res.body.slice(0, 300)}`)
    if (base.route.url === '/api/users/logout/' && res.statusCode === 204) {
      if (fresh === undefined) throw new Error(`logout without a real token answered 204: ${JSON.stringify(wire).slice(0, 200)}`)
      ended.add(sessionIdOf(fresh.access))
    }
  }), odd)
  t.equal(seen, odd.numRuns, `${seen} odd requests`)

  // Good requests with odd headers: what a proxy or a client adds never turns one into a refusal.
  const good = fuzzParameters<[unknown]>({ sqlite: 300, postgres: 70 })
  let done = 0
  await fc.assert(fc.asyncProperty(goodRequest, async request => {
    done++
    const { context, standing, otherCode, ended } = apps[request.app % apps.length]!
    const headers: Record<string, string> = { ...request.headers, 'content-type': request.contentType }
    if (request.auth !== undefined) headers.authorization = request.auth
    const send = async (method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown, token?: string) => await context.app.inject({
      method, url, headers: token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` }, payload: body === undefined ? undefined : JSON.stringify(body)
    })
    let res: LightMyRequestResponse
    let expected = [200]
    switch (request.operation) {
      case 'register': res = await send('POST', '/api/users/register/', { phone: testNotations[request.notation % testNotations.length] }); break
      case 'registerReal': res = await send('POST', '/api/users/register/', { phone: realNotations[request.notation % realNotations.length] }); break
      case 'verify':
        await post(context.app, '/api/users/register/', { phone: realPhone })
        res = await send('POST', '/api/users/verify_code/', { phone: testNotations[request.notation % testNotations.length], auth_code: '1234' })
        break
      case 'refresh': res = await send('POST', '/api/token/refresh/', { refresh: (await freshSignIn(context)).refresh }); break
      case 'logout': {
        const { access } = await freshSignIn(context)
        res = await send('POST', '/api/users/logout/', undefined, access)
        expected = [204]
        if (res.statusCode === 204) ended.add(sessionIdOf(access))
        break
      }
      case 'me': res = await send('GET', '/api/users/me/', undefined, standing.access); break
      case 'profile': res = await send('GET', '/api/profile/', undefined, standing.access); break
      case 'invited': res = await send('GET', '/api/users/me/invited/?limit=5', undefined, standing.access); break
      case 'invite':
        // The test number's person activates another's code: once, then "already activated".
        res = await send('PATCH', '/api/profile/', { invite_code: otherCode.toLowerCase() }, (await freshSignIn(context)).access)
        expected = [200, 409]
    }
    count(res)
    const problem = problemWith(res)
    if (problem !== undefined) throw new Error(`${problem}: ${request.operation} → ${res.statusCode} ${res.body.slice(0, 300)}`)
    const plain = request.contentType === 'application/json' || request.contentType === 'application/json; charset=utf-8'
    if (plain && !expected.includes(res.statusCode)) throw new Error(`a good ${request.operation} refused: ${res.statusCode} ${res.body.slice(0, 300)}`)
  }), good)
  t.equal(done, good.numRuns, `${done} good requests with odd headers`)

  t.comment(JSON.stringify([...statuses].sort()))
  t.ok(statuses.has(200) && statuses.has(204) && statuses.has(400) && statuses.has(401), 'requests got through, signed out, and were refused')
  t.same(prototypeSnapshot(), before, 'no prototype gained or lost a property')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no object inherits a polluted key')
  for (const { context, standing, ended } of apps) {
    const me = await context.app.inject({ url: '/api/users/me/', headers: { authorization: `Bearer ${standing.access}` } })
    t.equal(me.statusCode, 200, 'the standing session still works')
    await checkInvariants(t, context.app.db, context.config, { endedSessions: ended }, context.clock.now())
  }
})
