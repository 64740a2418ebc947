import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { createOperatorService } from '../../src/services/operator-service.js'
import { createDatabase } from '../../src/store/database.js'
import { bearer, manualClock, post, testSecret } from '../helpers/app.js'
import { adminQuery, openTestDatabase, testDatabaseKind } from '../helpers/database.js'

// Issue 22, finding 3: `phonepass keys revoke` reaches the other instances at once, not at their
// next periodic re-read (30 s). The re-read is set to an hour here, so only the push path
// (PostgreSQL: LISTEN/NOTIFY; SQLite: the stamp each process reads) can make the other
// instance refuse in time. The revocation is made on a database connection of its own, as the
// CLI does from its own process.

const phone = '+15550100001'
const boundMs = 2000
const fallbackMs = 3_600_000

async function setup (t: { teardown: (fn: () => unknown) => void }) {
  const database = await openTestDatabase({ shared: true })
  const clock = manualClock()
  const config: Config = loadConfig({
    NODE_ENV: 'test', DATABASE_URL: database.url, DATABASE_POOL_SIZE: '3', PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'silent', TEST_PHONE_NUMBERS: `${phone}=1234`
  })
  const apps = [await buildApp(config, { clock, keyReloadMs: fallbackMs }), await buildApp(config, { clock, keyReloadMs: fallbackMs })]
  const operatorDb = createDatabase(config.databaseUrl, { postgresPoolSize: 1 })
  t.teardown(async () => {
    for (const app of apps) await app.close()
    await operatorDb.destroy()
    await database.drop()
  })
  const operator = createOperatorService({ db: operatorDb, config, clock })
  /** One more instance on the same database, started now. */
  const startAnother = async (keyStampPollMs: number): Promise<FastifyInstance> => {
    const app = await buildApp(config, { clock, keyReloadMs: fallbackMs, keyStampPollMs })
    apps.push(app)
    return app
  }
  return { apps: apps as [FastifyInstance, FastifyInstance], operator, startAnother }
}

async function signIn (app: FastifyInstance): Promise<string> {
  await post(app, '/api/users/register/', { phone })
  const res = await post(app, '/api/users/verify_code/', { phone, auth_code: '1234' })
  if (res.statusCode !== 200) throw new Error(`verify answered ${res.statusCode}: ${res.body}`)
  return res.json<{ access: string }>().access
}

function kidOf (token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid
}

/** Milliseconds until `app` refuses `token` (me), or undefined if it still takes it after `limitMs`. */
async function msUntilRefused (app: FastifyInstance, token: string, since: number, limitMs = 5000): Promise<number | undefined> {
  while (Date.now() - since < limitMs) {
    if ((await app.inject({ url: '/api/users/me/', headers: bearer(token) })).statusCode === 401) return Date.now() - since
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  return undefined
}

t.test(`keys revoke: every instance refuses the key's tokens within ${boundMs} ms, with the periodic re-read an hour away`, async t => {
  const { apps: [a, b], operator } = await setup(t)
  const token = await signIn(a)
  t.equal((await b.inject({ url: '/api/users/me/', headers: bearer(token) })).statusCode, 200, 'the other instance takes it before')
  const since = Date.now()
  await operator.revokeKey(kidOf(token))
  const [onA, onB] = await Promise.all([msUntilRefused(a, token, since), msUntilRefused(b, token, since)])
  t.comment(`${testDatabaseKind}: refused ${onA ?? 'never'} ms and ${onB ?? 'never'} ms after the revocation`)
  t.ok(onA !== undefined && onA < boundMs, `the first instance (${onA ?? 'not within 5 s'} ms)`)
  t.ok(onB !== undefined && onB < boundMs, `the second instance (${onB ?? 'not within 5 s'} ms)`)
})

t.test('SQLite: a revocation made as an instance starts, before its first read of the stamp, is heard', { skip: testDatabaseKind !== 'sqlite' && 'SQLite only (PostgreSQL hears by LISTEN)' }, async t => {
  const { apps: [a], operator, startAnother } = await setup(t)
  const token = await signIn(a)
  // The stamp is read each second here: the revocation lands well before the new instance's first read.
  const fresh = await startAnother(1000)
  const since = Date.now()
  await operator.revokeKey(kidOf(token))
  const refusedAfter = await msUntilRefused(fresh, token, since)
  t.comment(`refused ${refusedAfter ?? 'never'} ms after the revocation`)
  t.ok(refusedAfter !== undefined && refusedAfter < boundMs, `the new instance refuses the key's tokens (${refusedAfter ?? 'not within 5 s'} ms)`)
})

t.test('PostgreSQL: a listening connection that is dropped is opened again, and the next revocation still arrives', { skip: testDatabaseKind !== 'postgres' && 'PostgreSQL only' }, async t => {
  const { apps: [a, b], operator } = await setup(t)
  const first = await signIn(a)
  await operator.revokeKey(kidOf(first))
  t.ok(await msUntilRefused(b, first, Date.now()))
  const dropped = await adminQuery("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'phonepass signing-key changes'")
  t.ok(dropped.rowCount !== null && dropped.rowCount >= 2, 'the listeners are cut off')
  // The first retry comes after 1 s.
  await new Promise(resolve => setTimeout(resolve, 1500))
  const second = await signIn(a)
  t.not(kidOf(second), kidOf(first))
  const since = Date.now()
  await operator.revokeKey(kidOf(second))
  const onB = await msUntilRefused(b, second, since)
  t.comment(`postgres after a reconnect: refused ${onB ?? 'never'} ms after the revocation`)
  t.ok(onB !== undefined && onB < boundMs, `after the reconnect (${onB ?? 'not within 5 s'} ms)`)
})
