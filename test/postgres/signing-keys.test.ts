import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createOperatorService } from '../../src/services/operator-service.js'
import { bearer, manualClock, post, testSecret } from '../helpers/app.js'
import { adminQuery, createSchema, postgresOnly, schemaUrl } from '../helpers/database.js'

// Instances on one PostgreSQL sign with the same key and publish the same set; a rotation made
// through one is seen by the others through their periodic re-read, with no call from the test.
const runs = postgresOnly()

const phone = '+15550100001'
const leadMs = 3_600_000

function kidOf (token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid
}

async function published (app: FastifyInstance): Promise<string[]> {
  return (await app.inject({ url: '/.well-known/jwks.json' })).json<{ keys: Array<{ kid: string }> }>().keys.map(key => key.kid)
}

async function signIn (app: FastifyInstance): Promise<{ access: string, refresh: string }> {
  await post(app, '/api/users/register/', { phone })
  const res = await post(app, '/api/users/verify_code/', { phone, auth_code: '1234' })
  if (res.statusCode !== 200) throw new Error(`verify answered ${res.statusCode}: ${res.body}`)
  return res.json()
}

async function eventually (check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check()) return true
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  return false
}

t.test('instances started together make one key, sign alike, and see each other\'s rotation', { skip: !runs }, async t => {
  const { schema, drop } = await createSchema()
  const clock = manualClock()
  const config = loadConfig({
    NODE_ENV: 'test', DATABASE_URL: schemaUrl(schema), DATABASE_POOL_SIZE: '3', PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'silent', TEST_PHONE_NUMBERS: `${phone}=1234`
  })
  // Four instances on an empty schema at the same moment: each finds no key and tries to make the first.
  const apps = await Promise.all([0, 1, 2, 3].map(async () => await buildApp(config, { clock, keyReloadMs: 50 })))
  t.teardown(async () => {
    for (const app of apps) await app.close()
    await drop()
  })
  const [a, b] = apps as [FastifyInstance, FastifyInstance]
  const { rows } = await adminQuery(`select kid, generation from ${schema}.signing_keys`)
  t.equal(rows.length, 1, 'one key made')
  const first = rows[0].kid as string
  for (const app of apps) t.same(await published(app), [first], 'every instance publishes it')

  const fromA = await signIn(a)
  const fromB = await signIn(b)
  t.equal(kidOf(fromA.access), first)
  t.equal(kidOf(fromB.access), first)
  t.equal((await b.inject({ url: '/api/users/me/', headers: bearer(fromA.access) })).statusCode, 200, 'B takes A\'s token')

  // Two operators rotating at once: one new key.
  const operator = (app: FastifyInstance) => createOperatorService({ db: app.db, config, clock })
  const rotations = await Promise.all([operator(a).rotateKeys(), operator(b).rotateKeys()])
  t.equal(rotations.filter(r => r.rotated).length, 1, 'one rotation wins')
  const { rows: after } = await adminQuery(`select kid from ${schema}.signing_keys order by generation`)
  t.equal(after.length, 2)
  const second = after[1].kid as string

  for (const app of apps) t.ok(await eventually(async () => (await published(app)).includes(second)), 'each instance publishes the new key on its own')
  t.equal(kidOf((await signIn(b)).access), first, 'not signing before the lead')
  clock.advance(leadMs)
  const newA = await signIn(a)
  const newB = await signIn(b)
  t.equal(kidOf(newA.access), second)
  t.equal(kidOf(newB.access), second)
  t.equal((await b.inject({ url: '/api/users/me/', headers: bearer(newA.access) })).statusCode, 200)
  t.equal((await a.inject({ url: '/api/users/me/', headers: bearer(newB.access) })).statusCode, 200)
})
