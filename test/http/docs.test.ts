import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

t.test('the OpenAPI document is generated from the route schemas', async t => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.equal(doc.openapi, '3.0.3')
  t.same(Object.keys(doc.paths).sort(), [
    '/.well-known/jwks.json',
    '/api/admin/audit/', '/api/admin/fraud/', '/api/admin/fraud/rules/', '/api/admin/fraud/rules/{destination}/', '/api/admin/limits/', '/api/admin/limits/clear/', '/api/admin/sms-spend/', '/api/admin/users/', '/api/admin/users/{id}/',
    '/api/admin/users/{id}/block/', '/api/admin/users/{id}/limits/clear/', '/api/admin/users/{id}/passkeys/{passkey_id}/', '/api/admin/users/{id}/sessions/revoke/', '/api/admin/users/{id}/unblock/',
    '/api/profile/', '/api/token/refresh/', '/api/token/verify/', '/api/users/logout/', '/api/users/me/', '/api/users/me/export/', '/api/users/me/invited/', '/api/users/me/passkeys/', '/api/users/me/passkeys/{id}/', '/api/users/me/phone/', '/api/users/me/phone/verify/',
    '/api/users/passkeys/authentication/', '/api/users/passkeys/authentication/options/', '/api/users/passkeys/registration/', '/api/users/passkeys/registration/options/', '/api/users/register/', '/api/users/verify_code/'
  ])
  t.ok(doc.paths['/api/users/verify_code/'].post.requestBody.content['application/json'].schema.properties.auth_code)
  t.ok(doc.components.schemas.Profile, 'shared schemas are components')
  t.ok(doc.paths['/api/profile/'].patch.responses['409'], 'refusals are documented')
  t.ok(doc.paths['/api/users/me/'].delete.requestBody.content['application/json'].schema.properties.auth_code, 'account deletion is documented')
  t.ok(doc.paths['/api/users/me/'].delete.responses['204'])
  t.ok(doc.paths['/api/users/verify_code/'].post.responses['403'], 'account_blocked is documented')
  t.ok(doc.paths['/api/users/me/phone/verify/'].post.responses['409'], 'a number with an account is documented')
  t.ok(doc.paths['/api/users/me/export/'].get.responses['200'].content['application/json'].schema.properties.sessions, 'the export is documented')
})

t.test('the admin API is in the document under its own tag, behind its own security scheme', async t => {
  const { app } = await buildTestApp(t)
  const doc = (await app.inject({ url: '/openapi.json' })).json()
  t.match(doc.components.securitySchemes.adminKey, { type: 'http', scheme: 'bearer', description: /PHONEPASS_ADMIN_KEYS/ })
  t.ok(doc.tags.some((tag: { name: string }) => tag.name === 'admin'))
  const adminOperations = Object.entries(doc.paths as Record<string, Record<string, { tags: string[], security: unknown, responses: Record<string, { description: string }> }>>)
    .filter(([path]) => path.startsWith('/api/admin/'))
    .flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ name: `${method} ${path}`, operation })))
  t.equal(adminOperations.length, 15)
  for (const { name, operation } of adminOperations) {
    t.same(operation.tags, ['admin'], name)
    t.same(operation.security, [{ adminKey: [] }], `${name}: the admin key, not a user's token`)
    t.match(operation.responses['404']?.description, /missing, wrong or revoked key/, `${name}: what a refused key gets`)
  }
  t.match(doc.paths['/api/admin/users/{id}/block/'].post.responses['404'].description, /user_not_found/)
  t.ok(doc.components.schemas.AuditEntry, 'the audit entry is a shared schema')
  t.same(doc.paths['/api/admin/users/'].get.parameters.map((p: { name: string }) => p.name).sort(), ['cursor', 'invite_code', 'limit', 'phone'])
  t.equal(doc.paths['/api/admin/users/{id}/'].delete.requestBody.required, false, 'a deletion\'s reason is optional')
  t.same(doc.paths['/api/admin/fraud/rules/'].post.requestBody.content['application/json'].schema.required, ['destination', 'verdict', 'reason'], 'a verdict is documented')
  t.ok(doc.paths['/api/admin/fraud/'].get.responses['200'].content['application/json'].schema.properties.destinations, 'the fraud guard\'s figures are documented')
  t.ok(doc.paths['/api/users/me/'].get.security.every((s: Record<string, unknown>) => !('adminKey' in s)), 'the user routes stay on bearerAuth')
})

t.test('the events sent to WEBHOOK_URL are in the document, under x-webhooks (OpenAPI 3.0), as ReDoc reads them', async t => {
  const { app } = await buildTestApp(t)
  const doc = (await app.inject({ url: '/openapi.json' })).json()
  t.same(Object.keys(doc['x-webhooks']), ['user.created', 'user.signed_in', 'passkey.added', 'passkey.removed', 'invite.activated', 'user.deleted', 'fraud.destination_suspect', 'user.phone_changed', 'user.blocked', 'user.unblocked'])
  const created = doc['x-webhooks']['user.created'].post
  t.same(created.parameters.map((p: { name: string }) => p.name), ['webhook-id', 'webhook-timestamp', 'webhook-signature'])
  const schema = created.requestBody.content['application/json'].schema
  t.same(schema.required, ['type', 'timestamp', 'data'])
  t.same(schema.properties.data.required, ['id', 'phone', 'invite_code'])
  t.same(doc['x-webhooks']['invite.activated'].post.requestBody.content['application/json'].schema.properties.data.required, ['id', 'phone', 'activated_invite_code', 'inviter_id'])
  t.ok(doc.tags.some((tag: { name: string }) => tag.name === 'webhooks'))
})

t.test('the document says what the routes do: optional parameters and bodies, each status, Retry-After, forms', async t => {
  const { app } = await buildTestApp(t)
  const doc = (await app.inject({ url: '/openapi.json' })).json()
  const invited = doc.paths['/api/users/me/invited/'].get
  t.same(invited.parameters.map((p: { name: string, required: boolean }) => [p.name, p.required]), [['limit', false], ['offset', false]], 'the page parameters have defaults')
  const logout = doc.paths['/api/users/logout/'].post
  t.equal(logout.requestBody.required, false, 'logout with the bearer token needs no body')
  t.ok(logout.responses['400'], 'a blank refresh token is a 400')
  t.ok(doc.paths['/api/token/refresh/'].post.responses['400'], 'a refresh without its token is a 400')
  t.equal(doc.paths['/api/users/register/'].post.requestBody.required, true)
  for (const [path, methods] of Object.entries(doc.paths) as Array<[string, Record<string, { requestBody?: { content: Record<string, unknown> }, responses: Record<string, { description: string, headers?: Record<string, unknown> }> }>]>) {
    for (const [method, operation] of Object.entries(methods)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        t.not(response.description, 'Default Response', `${method} ${path} ${status} says what it means`)
        if (status === '429' || status === '503') t.ok(response.headers?.['Retry-After'], `${method} ${path} ${status} has Retry-After`)
      }
      if (operation.requestBody !== undefined) {
        t.same(Object.keys(operation.requestBody.content).sort(), ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'], `${method} ${path} takes JSON or a form`)
      }
    }
  }
  // What the document says is what the routes do: a form body, no page parameters, no logout body.
  const form = await app.inject({ method: 'POST', url: '/api/users/register/', payload: 'phone=%2B79123456789', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(form.statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/api/users/logout/' })).statusCode, 401, 'no body: the bearer token is asked for, not a body')
})

t.test('ReDoc is served from this service, bundle included', async t => {
  const { app } = await buildTestApp(t)
  const page = await app.inject({ url: '/redoc/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /<script src="\/redoc\/redoc.standalone.js"><\/script>/)
  t.notMatch(page.body, /https?:\/\//, 'no third-party script host')
  const bundle = await app.inject({ url: '/redoc/redoc.standalone.js' })
  t.equal(bundle.statusCode, 200)
  t.ok(bundle.body.length > 500_000)
})

t.test('health and request ids', async t => {
  const { app } = await buildTestApp(t)
  const health = await app.inject({ url: '/healthz' })
  t.equal(health.statusCode, 200)
  t.ok(health.headers['x-request-id'])
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200)
  const traced = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } })
  t.equal(traced.headers['x-request-id'], 'abc-123')
})

t.test('unknown API paths are JSON 404s', async t => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ url: '/api/nothing/' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { detail: 'Not found.', code: 'not_found' })
})

t.test('a path the API has, asked with a method it does not take: 405 with Allow, as DRF; OPTIONS lists them', async t => {
  const { app } = await buildTestApp(t)
  const cases = [
    { method: 'GET', url: '/api/users/register/', allow: 'POST, OPTIONS' },
    { method: 'DELETE', url: '/api/profile/', allow: 'GET, HEAD, PUT, PATCH, OPTIONS' },
    { method: 'DELETE', url: '/api/profile', allow: 'GET, HEAD, PUT, PATCH, OPTIONS' },
    { method: 'POST', url: '/api/users/me/?x=1', allow: 'GET, HEAD, DELETE, OPTIONS' }
  ] as const
  for (const { method, url, allow } of cases) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 405, `${method} ${url}`)
    t.equal(res.headers.allow, allow, `${method} ${url}`)
    t.same(res.json(), { detail: `Method "${method}" not allowed.`, code: 'method_not_allowed' }, `${method} ${url}`)
  }
  const russian = await app.inject({ method: 'GET', url: '/api/token/refresh/', headers: { 'accept-language': 'ru' } })
  t.equal(russian.json().detail, 'Метод «GET» здесь не поддерживается.')
  const options = await app.inject({ method: 'OPTIONS', url: '/api/users/verify_code/' })
  t.equal(options.statusCode, 200)
  t.equal(options.headers.allow, 'POST, OPTIONS')
  t.same(options.json().parses, ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'])
  t.equal((await app.inject({ method: 'DELETE', url: '/api/nothing/' })).statusCode, 404, 'a path the API does not have is still 404')
  for (const url of ['/api/users/:x(', '/api/users/*', '/api/(a', '/api/users/me/%28']) {
    const odd = await app.inject({ method: 'DELETE', url })
    t.equal(odd.statusCode, 404, `${url}: a path that reads as a route pattern is not found, not a 500`)
  }
})
