import t from 'tap'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp, post, signIn, type TestContext } from '../helpers/app.js'
import { checkInvariants } from '../helpers/invariants.js'
import { WebClient } from '../web/web-client.js'
import {
  acceptLanguage, contentType, cookieJunk, encodeBody, forwardedFor, headerText, oddBody, oddString,
  pageProblem as problemWith, prototypeSnapshot, queryString, fuzzParameters, replaceReal
} from './arbitraries.js'

// Every page and form under generated bodies, query strings and headers, posted signed out
// and signed in, with and without a good CSRF token. A page never answers 5xx (but 503 with
// Retry-After), shows every refusal as a message a person can read (beside the field, above
// the form, or on the error page), never a stack, never reflects markup unescaped, and
// redirects only within the site.

const testPhone = '+15550100001'
const forms: Array<{ url: string, fields: string[] }> = [
  { url: '/login', fields: ['phone', 'next'] },
  { url: '/login/code', fields: ['auth_code'] },
  { url: '/login/resend', fields: [] },
  { url: '/profile/invite', fields: ['invite_code'] },
  { url: '/profile/sessions/sign-out-others', fields: [] },
  { url: '/logout', fields: [] }
]
const pages = ['/', '/login', '/login/code', '/profile', '/language/en', '/language/ru', '/language/de', '/invite', '/login/', '/nope', '/assets/site.css', '/redoc', '/openapi.json', '/healthz']

// Plain HTTP, and behind a proxy that says the request came over HTTPS (__Host- cookies).
const proxies: Array<{ env: Record<string, string>, headers: Record<string, string> }> = [
  { env: {}, headers: {} },
  { env: { TRUST_PROXY: 'true' }, headers: { 'x-forwarded-proto': 'https' } }
]

type State = 'anonymous' | 'pending' | 'signedIn'

interface Visitor {
  cookie: string
  token: string
}

// Stand-ins replaced at run time with another person's invite code and the test number's code.
const realInvite = '«invite»'
const realValues = fc.constantFrom(realInvite, testPhone, ' +1 (555) 010-0001 ', '1234', ' 1234 ', '/profile', '//evil.example', '/\\evil.example')

function tokenOf (res: LightMyRequestResponse): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(res.body)?.[1]
  if (token === undefined) throw new Error(`no CSRF token (${res.statusCode})`)
  return token
}

/** A visitor in a state: the cookie a browser holds there and the token its page shows. */
async function visitor (context: TestContext, state: State, headers: Record<string, string>): Promise<Visitor> {
  const client = new WebClient(context.app, headers)
  const token = tokenOf(await client.get('/login'))
  if (state === 'anonymous') return { cookie: client.cookieHeader(), token }
  const sent = await client.post('/login', { _csrf: token, phone: testPhone })
  if (sent.statusCode !== 303) throw new Error(`POST /login answered ${sent.statusCode}`)
  if (state === 'signedIn') {
    const signedIn = await client.post('/login/code', { _csrf: token, auth_code: '1234' })
    if (signedIn.headers.location !== '/profile') throw new Error(`POST /login/code answered ${signedIn.statusCode}`)
  }
  // The page first: it may store a new CSRF secret in the cookie.
  const page = await client.get(state === 'pending' ? '/login/code' : '/profile')
  return { cookie: client.cookieHeader(), token: tokenOf(page) }
}

// Each header now and then, so that most posts still pass the cross-site checks.
const sometimes = <T>(arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, arbitrary)
const rarely = <T>(arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, arbitrary)
const headers = fc.record({
  'accept-language': fc.option(acceptLanguage, { nil: undefined }),
  cookie: sometimes(cookieJunk),
  'x-forwarded-for': fc.option(forwardedFor, { nil: undefined }),
  'x-forwarded-proto': sometimes(fc.oneof(fc.constantFrom('https', 'http', 'https, http', ''), headerText)),
  'x-forwarded-host': rarely(fc.oneof(fc.constantFrom('evil.example', 'localhost:80', ''), headerText)),
  'user-agent': fc.option(headerText, { nil: undefined }),
  origin: rarely(fc.oneof(fc.constantFrom('http://localhost:80', 'null', 'https://evil.example'), headerText))
}).map(record => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Record<string, string>)

// The visitor's own cookie (plus any junk), none, or theirs with one character changed.
const cookieMode = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ mode: 'keep' as const, at: 0 }) },
  fc.constant({ mode: 'drop' as const, at: 0 }),
  fc.nat().map(at => ({ mode: 'tamper' as const, at }))
)

/** The Cookie header a run sends: the visitor's, tampered with or not, and the junk. */
function cookieHeader (own: string, mode: { mode: 'keep' | 'drop' | 'tamper', at: number }, junk: string | undefined): string {
  if (mode.mode === 'drop') return junk ?? ''
  let cookie = own
  if (mode.mode === 'tamper') {
    const at = own.indexOf('=') + 1 + mode.at % Math.max(1, own.length - own.indexOf('=') - 1)
    cookie = own.slice(0, at) + (own[at] === 'A' ? 'B' : 'A') + own.slice(at + 1)
  }
  return junk === undefined ? cookie : `${cookie}; ${junk}`
}

const formPost = fc.record({
  app: fc.nat(),
  form: fc.noBias(fc.constantFrom(...forms)),
  state: fc.noBias(fc.constantFrom<State>('anonymous', 'pending', 'signedIn')),
  csrf: fc.oneof({ weight: 12, arbitrary: fc.constantFrom('body', 'header') }, fc.constantFrom('none', 'junk', 'foreign')),
  junkToken: oddString,
  // Mostly as a browser posts, so the CSRF check passes and the body reaches the route.
  fetchSite: fc.oneof({ weight: 16, arbitrary: fc.constant('same-origin') }, fc.constantFrom(undefined, 'none', 'cross-site', 'same-site'), headerText),
  contentType: fc.oneof({ weight: 3, arbitrary: fc.constant('application/x-www-form-urlencoded') }, contentType),
  cookie: cookieMode,
  headers
}).chain(base => fc.record({
  base: fc.constant(base),
  body: fc.oneof(
    oddBody(base.form.fields.length > 0 ? base.form.fields : ['phone']),
    // The form's own fields, often with real values: a real sign-in, a real invite code.
    fc.dictionary(fc.constantFrom(...base.form.fields.length > 0 ? base.form.fields : ['x']), fc.oneof(oddString, { weight: 2, arbitrary: realValues }), { maxKeys: 3 })
      .map(json => ({ json }))
  )
}))

const pageGet = fc.record({
  app: fc.nat(),
  page: fc.oneof({ weight: 5, arbitrary: fc.noBias(fc.constantFrom(...pages)) }, fc.constantFrom('/language/%ED%A0%80', '/%ED%A0%80', '/login/%zz', `/language/${'x'.repeat(120)}`, '/login?next=%ED%A0%80')),
  state: fc.noBias(fc.constantFrom<State>('anonymous', 'pending', 'signedIn')),
  query: fc.option(queryString, { nil: undefined }),
  cookie: cookieMode,
  headers
})

t.test('every form under odd posts, signed in and out, with and without CSRF: a readable message, never a 5xx', async t => {
  const before = prototypeSnapshot()
  const env = {
    OTP_RESEND_SECONDS: '0', OTP_MAX_ATTEMPTS: '10', LIMIT_CODES_PER_IP_HOUR: '100000', LIMIT_WRONG_CODES_PER_IP_HOUR: '100000',
    LIMIT_WRONG_CODES_PER_PHONE_DAY: '10000', LIMIT_WRONG_INVITES_PER_USER_HOUR: '10000'
  }
  const setups = await Promise.all(proxies.map(async ({ env: extra, headers: proxy }) => {
    const context = await buildTestApp(t, { ...env, ...extra })
    const other = await signIn(context, '+79123456789')
    const visitors = {
      anonymous: await visitor(context, 'anonymous', proxy),
      pending: await visitor(context, 'pending', proxy),
      signedIn: await visitor(context, 'signedIn', proxy)
    }
    return { context, proxy, inviteCode: other.user.invite_code, visitors }
  }))
  const statuses = new Map<number, number>()

  await fc.assert(fc.asyncProperty(formPost, async ({ base, body }) => {
    const { context, proxy, inviteCode, visitors } = setups[base.app % setups.length]!
    // A sign-out ends the session it is sent with: it gets a session of its own.
    const self = base.state === 'signedIn' && base.form.url === '/logout' ? await visitor(context, 'signedIn', proxy) : visitors[base.state]
    // The test number's code is renewed (no SMS, no quota), so a run can still sign in with it.
    if (base.state === 'pending') await post(context.app, '/api/users/register/', { phone: testPhone })
    const token = base.csrf === 'junk' ? base.junkToken : base.csrf === 'foreign' ? visitors[base.state === 'anonymous' ? 'signedIn' : 'anonymous'].token : self.token
    let json = replaceReal(body.json, { [realInvite]: inviteCode })
    if (base.csrf !== 'none' && base.csrf !== 'header' && json !== null && typeof json === 'object' && !Array.isArray(json)) json = { ...json, _csrf: token }
    const requestHeaders: Record<string, string> = { ...base.headers, ...proxy, 'content-type': base.contentType }
    requestHeaders.cookie = cookieHeader(self.cookie, base.cookie, base.headers.cookie)
    if (base.csrf === 'header') requestHeaders['x-csrf-token'] = token
    if (base.fetchSite !== undefined) requestHeaders['sec-fetch-site'] = base.fetchSite
    const res = await context.app.inject({ method: 'POST', url: base.form.url, headers: requestHeaders, payload: encodeBody({ ...body, json }, base.contentType) })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    const problem = problemWith(res)
    if (problem !== undefined) throw new Error(`${problem}: POST ${base.form.url} → ${res.statusCode} ${res.body.slice(0, 2000)}`)
  }), fuzzParameters({ sqlite: 400, postgres: 100 }))

  t.comment(JSON.stringify([...statuses].sort()))
  t.ok(statuses.has(303), 'some posts went through')
  t.ok(statuses.has(400), 'some were refused beside a field')
  t.ok(statuses.has(403), 'some were refused as cross-site or without a token')
  t.same(prototypeSnapshot(), before, 'no prototype gained or lost a property')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no object inherits a polluted key')
  for (const { context, proxy, visitors } of setups) {
    const profile = await context.app.inject({ url: '/profile', headers: { ...proxy, cookie: visitors.signedIn.cookie } })
    t.equal(profile.statusCode, 200, 'the standing browser session still works')
    await checkInvariants(t, context.app.db, context.config, {}, context.clock.now())
  }
})

t.test('every page under odd query strings, cookies and headers: a readable page, never a 5xx', async t => {
  const setups = await Promise.all(proxies.map(async ({ env, headers: proxy }) => {
    const context = await buildTestApp(t, env)
    return { context, proxy, visitors: { anonymous: await visitor(context, 'anonymous', proxy), pending: await visitor(context, 'pending', proxy), signedIn: await visitor(context, 'signedIn', proxy) } }
  }))
  const statuses = new Map<number, number>()
  await fc.assert(fc.asyncProperty(pageGet, async request => {
    const { context, proxy, visitors } = setups[request.app % setups.length]!
    const url = request.query === undefined ? request.page : `${request.page}${request.page.includes('?') ? '&' : '?'}${request.query}`
    const cookie = cookieHeader(visitors[request.state].cookie, request.cookie, request.headers.cookie)
    const res = await context.app.inject({ method: 'GET', url, headers: { ...request.headers, ...proxy, cookie } })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    const problem = problemWith(res)
    if (problem !== undefined) throw new Error(`${problem}: GET ${url} → ${res.statusCode} ${res.body.slice(0, 2000)}`)
  }), fuzzParameters({ sqlite: 300, postgres: 80 }))
  t.comment(JSON.stringify([...statuses].sort()))
  t.ok(statuses.has(200) && statuses.has(303) && statuses.has(404), 'pages, redirects and missing pages were all seen')
  for (const { context } of setups) await checkInvariants(t, context.app.db, context.config, {}, context.clock.now())
})

t.test('a sign-in with any next leads to a page of this site', async t => {
  const context = await buildTestApp(t)
  const next = fc.oneof(oddString, fc.constantFrom(
    '//evil.example', '/\\evil.example', 'https://evil.example', 'javascript:alert(1)', '/%2F%2Fevil.example', '/%5Cevil.example', '///evil.example',
    '/.//evil.example', '/..//evil.example', '/\t/evil.example', '/ /evil.example', 'http:/evil.example', '\\\\evil.example', '/profile?x=1#y', '/profile\n/evil'
  ))
  let landed = 0
  await fc.assert(fc.asyncProperty(next, async target => {
    const client = new WebClient(context.app)
    const token = tokenOf(await client.get('/login'))
    const sent = await client.post('/login', { _csrf: token, phone: testPhone, next: target })
    let problem = problemWith(sent)
    if (problem === undefined && sent.statusCode === 303) {
      const signedIn = await client.post('/login/code', { _csrf: token, auth_code: '1234' })
      problem = problemWith(signedIn) ?? (signedIn.statusCode === 303 ? undefined : `sign-in answered ${signedIn.statusCode}`)
      landed++
    }
    if (problem !== undefined) throw new Error(`${problem}: next=${JSON.stringify(target).slice(0, 200)}`)
  }), fuzzParameters({ sqlite: 100, postgres: 30 }))
  t.ok(landed > 0, `${landed} sign-ins went on to their next page`)
})
