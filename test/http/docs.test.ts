import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

t.test('the OpenAPI document is generated from the route schemas', async t => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.equal(doc.openapi, '3.0.3')
  t.same(Object.keys(doc.paths).sort(), [
    '/api/profile/', '/api/token/refresh/', '/api/users/logout/', '/api/users/me/', '/api/users/me/invited/', '/api/users/register/', '/api/users/verify_code/'
  ])
  t.ok(doc.paths['/api/users/verify_code/'].post.requestBody.content['application/json'].schema.properties.auth_code)
  t.ok(doc.components.schemas.Profile, 'shared schemas are components')
  t.ok(doc.paths['/api/profile/'].patch.responses['409'], 'refusals are documented')
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
