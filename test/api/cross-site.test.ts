import t from 'tap'
import { bearer, buildTestApp, post, signIn } from '../helpers/app.js'

// A page on any site can make its visitors' browsers post a form here without a preflight; the
// API refuses what a browser marks as cross-site, and lets apps and scripts (no such headers)
// and the web apps of CORS_ORIGINS through.

const host = 'phonepass.example'
const self = `http://${host}`
const evil = 'https://evil.example'
const webApp = 'https://app.example'
const form = 'application/x-www-form-urlencoded'

/** A browser's form post: the headers Chromium sends with it. */
function browserPost (url: string, payload: string, contentType: string, site: Record<string, string>) {
  return { method: 'POST' as const, url, payload, headers: { host, 'content-type': contentType, ...site } }
}

t.test('a form, multipart or text post a browser marks as cross-site is refused before anything is sent', async t => {
  const { app, sms } = await buildTestApp(t)
  const multipart = new Response((() => { const f = new FormData(); f.append('phone', '+79123456789'); return f })())
  const multipartBody = Buffer.from(await multipart.arrayBuffer()).toString('latin1')
  const cases: Array<[string, string, string, Record<string, string>]> = [
    ['form, Sec-Fetch-Site and Origin', 'phone=%2B79123456789', form, { 'sec-fetch-site': 'cross-site', origin: evil }],
    ['form, Origin only (an older browser)', 'phone=%2B79123456789', form, { origin: evil }],
    ['form, Origin null (a sandboxed frame)', 'phone=%2B79123456789', form, { origin: 'null' }],
    ['form from a sibling subdomain', 'phone=%2B79123456789', form, { 'sec-fetch-site': 'same-site', origin: 'http://other.phonepass.example' }],
    ['form, Sec-Fetch-Site only', 'phone=%2B79123456789', form, { 'sec-fetch-site': 'cross-site' }],
    ['multipart', multipartBody, multipart.headers.get('content-type') ?? '', { 'sec-fetch-site': 'cross-site', origin: evil }],
    ['text/plain', 'phone=%2B79123456789', 'text/plain;charset=UTF-8', { 'sec-fetch-site': 'cross-site', origin: evil }]
  ]
  for (const [what, payload, type, site] of cases) {
    const refused = await app.inject(browserPost('/api/users/register/', payload, type, site))
    t.equal(refused.statusCode, 403, what)
    t.same(refused.json(), { detail: 'This request came from another website, which may not send it. Use the app or this site itself.', code: 'cross_site_request' }, what)
  }
  t.equal(sms.messages.length, 0, 'no SMS went out')

  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>> }>()
  t.match(doc.paths['/api/users/register/']?.post?.responses['403']?.description, /cross_site_request/, 'the 403 is in the API document')
  t.equal(doc.paths['/api/users/me/']?.get?.responses['403'], undefined, 'on writes only')

  const russian = await app.inject({ ...browserPost('/api/users/register/', 'phone=%2B79123456789', form, { origin: evil }), headers: { host, 'content-type': form, origin: evil, 'accept-language': 'ru' } })
  t.equal(russian.json().code, 'cross_site_request')
  t.match(russian.json().detail, /другого сайта/)
})

t.test('every write of the API is guarded, signed in or not', async t => {
  const context = await buildTestApp(t)
  const { access, refresh } = await signIn(context, '+79123456789')
  const site = { 'sec-fetch-site': 'cross-site', origin: evil }
  for (const [method, url] of [['POST', '/api/users/verify_code/'], ['POST', '/api/token/refresh/'], ['POST', '/api/users/logout/'], ['PATCH', '/api/profile/'], ['PUT', '/api/profile/']] as const) {
    const refused = await context.app.inject({ method, url, payload: `refresh=${refresh}`, headers: { host, 'content-type': form, ...bearer(access), ...site } })
    t.equal(refused.statusCode, 403, `${method} ${url}`)
    t.equal(refused.json().code, 'cross_site_request')
  }
  t.equal((await post(context.app, '/api/token/refresh/', { refresh })).statusCode, 200, 'the refresh token was not spent')
})

t.test('apps, scripts and this site itself post as before', async t => {
  const { app, sms } = await buildTestApp(t)
  const phones = ['+79123456701', '+79123456702', '+79123456703', '+79123456704', '+79123456705']
  const cases: Array<[string, Record<string, string>]> = [
    ['no browser headers (an app, curl, a DRF client)', {}],
    ['this origin', { 'sec-fetch-site': 'same-origin', origin: self }],
    ['typed into the address bar', { 'sec-fetch-site': 'none' }]
  ]
  for (const [i, [what, site]] of cases.entries()) {
    const answered = await app.inject(browserPost('/api/users/register/', `phone=${encodeURIComponent(phones[i] ?? '')}`, form, site))
    t.equal(answered.statusCode, 200, what)
  }
  // JSON from another origin needs a preflight, which only CORS_ORIGINS pass: not judged here.
  const json = await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: phones[3] }, headers: { host, origin: evil, 'sec-fetch-site': 'cross-site' } })
  t.equal(json.statusCode, 200, 'JSON')
  const read = await app.inject({ method: 'GET', url: '/api/users/me/', headers: { host, origin: evil, 'sec-fetch-site': 'cross-site' } })
  t.equal(read.statusCode, 401, 'a GET is not a write: answered as ever')
  t.equal(sms.messages.length, 4)
})

t.test('without CORS_ORIGINS there is no CORS, as before; OPTIONS lists the methods', async t => {
  const { app } = await buildTestApp(t)
  const preflight = await app.inject({ method: 'OPTIONS', url: '/api/users/me/', headers: { origin: webApp, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
  t.equal(preflight.headers['access-control-allow-origin'], undefined)
  t.equal(preflight.statusCode, 200)
  t.equal(preflight.headers.allow, 'GET, HEAD, DELETE, OPTIONS')
})

t.test('CORS_ORIGINS: a web app there calls the JSON API with a bearer token', async t => {
  const context = await buildTestApp(t, { CORS_ORIGINS: `${webApp}, http://localhost:5173` })
  const { app } = context
  const preflight = await app.inject({ method: 'OPTIONS', url: '/api/users/me/', headers: { host, origin: webApp, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], webApp)
  t.match(preflight.headers['access-control-allow-headers'], /Authorization/)
  t.match(preflight.headers['access-control-allow-headers'], /Content-Type/)
  t.match(preflight.headers['access-control-allow-methods'], /PATCH/)
  t.match(preflight.headers['access-control-allow-methods'], /DELETE/, 'a web app may delete its user\'s account (DELETE /api/users/me/)')
  t.equal(preflight.headers['access-control-allow-credentials'], undefined, 'no cookies: bearer tokens only')
  t.match(preflight.headers.vary, /Origin/)

  const { access } = await signIn(context, '+79123456789')
  const me = await app.inject({ method: 'GET', url: '/api/users/me/', headers: { host, origin: webApp, 'sec-fetch-site': 'cross-site', ...bearer(access) } })
  t.equal(me.statusCode, 200)
  t.equal(me.headers['access-control-allow-origin'], webApp)
  t.equal(me.headers['access-control-expose-headers'], 'Retry-After, X-Request-Id')

  const fromLocal = await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123456780' }, headers: { host, origin: 'http://localhost:5173', 'sec-fetch-site': 'cross-site' } })
  t.equal(fromLocal.statusCode, 200)
  t.equal(fromLocal.headers['access-control-allow-origin'], 'http://localhost:5173')
  const formFromApp = await app.inject(browserPost('/api/users/register/', 'phone=%2B79123456781', form, { 'sec-fetch-site': 'cross-site', origin: webApp }))
  t.equal(formFromApp.statusCode, 200, 'an allowed origin may post a form too')

  const other = await app.inject({ method: 'OPTIONS', url: '/api/users/me/', headers: { host, origin: evil, 'access-control-request-method': 'GET' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'another origin hears nothing of CORS')
  t.equal(other.headers.allow, 'GET, HEAD, DELETE, OPTIONS')
  const formFromOther = await app.inject(browserPost('/api/users/register/', 'phone=%2B79123456782', form, { 'sec-fetch-site': 'cross-site', origin: evil }))
  t.equal(formFromOther.statusCode, 403)

  const plain = await app.inject({ method: 'OPTIONS', url: '/api/users/register/' })
  t.equal(plain.statusCode, 200, 'a plain OPTIONS is answered as before')
  t.equal(plain.headers.allow, 'POST, OPTIONS')
  t.same(plain.json(), { renders: ['application/json'], parses: ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'] })
  t.equal((await app.inject({ method: 'OPTIONS', url: '/api/nowhere/', headers: { origin: webApp, 'access-control-request-method': 'GET' } })).headers['access-control-allow-origin'], webApp, 'preflight answered for any API path')

  const page = await app.inject({ method: 'OPTIONS', url: '/login', headers: { host, origin: webApp, 'access-control-request-method': 'POST' } })
  t.equal(page.headers['access-control-allow-origin'], undefined, 'pages take no part in CORS')
  const pagePost = await app.inject({ method: 'POST', url: '/login', payload: 'phone=%2B79123456783', headers: { host, 'content-type': form, origin: webApp, 'sec-fetch-site': 'cross-site' } })
  t.equal(pagePost.statusCode, 403, 'nor may an allowed origin post the pages\' forms')
})
