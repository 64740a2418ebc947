import t from 'tap'
import fc from 'fast-check'
import { bearer, buildTestApp, signIn } from '../helpers/app.js'

// Odd values of every JSON type, unicode digits, control characters, huge strings and
// prototype-pollution keys; every route must answer them with a 4xx that has a detail.
const oddString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ' ', '+', '+7９１２３４５６７８９', '٠١٢٣', '\u0000', '\n\r\t', '+7 912 345-67-89', '1234', 'K7M2XQ', '𝟏𝟐𝟑𝟒', '<script>', "' or 1=1 --"),
  fc.string({ minLength: 5000, maxLength: 20000 })
)
const oddValue = fc.oneof(oddString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(oddString, { maxLength: 3 }), fc.dictionary(oddString, oddString, { maxKeys: 3 }))
const fields = ['phone', 'auth_code', 'invite_code', 'refresh', '__proto__', 'constructor', 'prototype']
const oddBody = fc.oneof(
  fc.dictionary(fc.constantFrom(...fields), oddValue, { maxKeys: 4 }),
  oddValue,
  fc.jsonValue()
)
const oddRaw = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.constantFrom('{', '{"phone":', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', 'null', '[]', '"x"', '1e400')
)
const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x', '')
const authorization = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 300 }).map(s => `Bearer ${s}`), fc.string({ maxLength: 100 }))

const routes: Array<{ method: 'GET' | 'POST' | 'PATCH' | 'PUT', url: string, signedIn: boolean }> = [
  { method: 'POST', url: '/api/users/register/', signedIn: false },
  { method: 'POST', url: '/api/users/verify_code/', signedIn: false },
  { method: 'GET', url: '/api/users/me/', signedIn: false },
  { method: 'PATCH', url: '/api/profile/', signedIn: true },
  { method: 'PUT', url: '/api/profile/', signedIn: true },
  { method: 'POST', url: '/api/token/refresh/', signedIn: false },
  { method: 'POST', url: '/api/users/logout/', signedIn: false }
]

t.test('200 odd requests on every route: never a 5xx, always a detail', async t => {
  const context = await buildTestApp(t, { OTP_RESEND_SECONDS: '0' })
  const { access } = await signIn(context, '+79123456701')
  for (const route of routes) {
    let seen = 0
    await fc.assert(fc.asyncProperty(
      fc.oneof(oddBody.map(body => ({ body, raw: undefined })), oddRaw.map(raw => ({ body: undefined, raw }))),
      contentType, authorization,
      async ({ body, raw }, type, auth) => {
        seen++
        const headers: Record<string, string> = { 'content-type': type }
        if (route.signedIn) Object.assign(headers, bearer(access))
        else if (auth !== undefined) headers.authorization = auth
        const payload = raw ?? (type.startsWith('application/x-www-form-urlencoded') && body !== null && typeof body === 'object'
          ? new URLSearchParams(Object.entries(body).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v) ?? ''])).toString()
          : JSON.stringify(body))
        const res = await context.app.inject({ method: route.method, url: route.url, headers, payload: route.method === 'GET' ? undefined : payload })
        if (res.statusCode >= 500 && res.statusCode !== 503) return false
        if (res.statusCode >= 400) {
          const parsed = res.json() as { detail?: unknown, code?: unknown }
          return typeof parsed.detail === 'string' && parsed.detail.length > 0 && typeof parsed.code === 'string'
        }
        return true
      }
    ), { numRuns: 200, seed: 20261125, endOnFailure: true })
    t.equal(seen, 200, `${route.method} ${route.url}`)
  }
  t.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was polluted')
})

t.test('odd query strings on the paged invited list: never a 5xx', async t => {
  const context = await buildTestApp(t)
  const { access } = await signIn(context, '+79123456701')
  let seen = 0
  await fc.assert(fc.asyncProperty(fc.dictionary(fc.constantFrom('limit', 'offset', '__proto__', 'x'), oddString, { maxKeys: 3 }), async query => {
    seen++
    const res = await context.app.inject({ url: '/api/users/me/invited/', query, headers: bearer(access) })
    return res.statusCode < 500 && (res.statusCode < 400 || typeof res.json().detail === 'string')
  }), { numRuns: 200, seed: 20261125 })
  t.equal(seen, 200)
})
