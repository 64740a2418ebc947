import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

// Route schemas compile when a request first needs them outside production (a test app or a
// developer's server starts in a fifth of the CPU), and all at start in production (a fault
// stops the start-up; no first request waits). src/http/schema-compilers.ts.

/** A route whose body schema ajv cannot compile (an unknown type), added before the app is ready. */
function addFaultyRoute (app: Awaited<ReturnType<typeof buildTestApp>>['app']): void {
  app.post('/faulty', { schema: { body: { type: 'no-such-type' } } }, async () => ({ ok: true }))
}

t.test('outside production: the app starts; a faulty schema fails its own first request, not the start or other routes', async t => {
  const { app } = await buildTestApp(t)
  addFaultyRoute(app)
  await app.ready()
  const faulty = await app.inject({ method: 'POST', url: '/faulty', payload: {} })
  t.equal(faulty.statusCode, 500, 'compiled on first use: the fault shows there')
  const refused = await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: ['+79123456789'] } })
  t.equal(refused.statusCode, 400, 'a validator compiled on first use refuses a bad body')
  t.same(refused.json().errors, { phone: ['Must be text.'] }, 'and names the field and the fault, as one compiled at start does')
  const missing = await app.inject({ method: 'POST', url: '/api/users/register/', payload: {} })
  t.same(missing.json().errors, { phone: ['This field is required.'] }, 'the same validator again: the errors are this call\'s, not the last one\'s')
  const accepted = await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123456789' } })
  t.same(accepted.json(), { phone: '+79123456789', expires_in: 300, resend_in: 60, detail: 'A code was sent to +79123456789.', channel: 'sms', channels: ['sms'] }, 'the serializer compiled on first use writes the answer')
})

t.test('in production: every schema compiles at start, so a faulty one stops the start-up', async t => {
  const { app } = await buildTestApp(t, { NODE_ENV: 'production' })
  addFaultyRoute(app)
  await t.rejects(async () => { await app.ready() }, { code: 'FST_ERR_SCH_VALIDATION_BUILD' })
})
