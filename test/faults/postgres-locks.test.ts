import t, { type Test } from 'tap'
import pg from 'pg'
import { sql } from 'kysely'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createDatabase } from '../../src/store/database.js'
import { migrateDown, migrateToLatest } from '../../src/store/migrator.js'
import { bearer, buildTestApp, post, signIn, testSecret } from '../helpers/app.js'
import { createSchema, postgresOnly, schemaUrl } from '../helpers/database.js'

// PostgreSQL waits for a lock for ever unless told otherwise: a row or table lock held by
// another session (an operator's open transaction, a stuck job) must end in 503 with
// Retry-After after DATABASE_LOCK_TIMEOUT_MS, or DATABASE_STATEMENT_TIMEOUT_MS, not in a
// request that hangs. SQLite's write lock: test/faults/busy.test.ts.
const runs = postgresOnly()

/** The answer, or a failure when there is none within `ms`: a hang fails the test fast. */
async function within<T> (ms: number, answer: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no answer within ${ms} ms`)) }, ms) })
  try {
    return await Promise.race([answer, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function assertUnavailable (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 503, `${what}: 503 (${res.body.slice(0, 120)})`)
  t.equal(res.headers['retry-after'], '2', `${what}: Retry-After`)
  t.equal(res.json<{ code: string }>().code, 'service_unavailable', `${what}: code`)
}

/** A second session on the app's schema, as another process would have. */
async function holder (t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(async () => { await client.end() })
  return client
}

const tables = 'users, sessions, refresh_tokens, login_codes, limit_counters'

for (const [name, env] of [
  ['lock_timeout', { DATABASE_LOCK_TIMEOUT_MS: '200' }],
  ['statement_timeout', { DATABASE_LOCK_TIMEOUT_MS: '60000', DATABASE_STATEMENT_TIMEOUT_MS: '300' }]
] as const) {
  t.test(`tables locked by another session (${name}): writes 503 with Retry-After, reads served, all back when it is let go`, async t => {
    if (!runs) return
    const context = await buildTestApp(t, { ...env, OTP_RESEND_SECONDS: '0', OTP_TTL_SECONDS: '600' })
    const { app, clock, sms } = context
    const inviter = await signIn(context, '+79123456701')
    const person = await signIn(context, '+79123456702')
    const pending = '+79123456703'
    t.equal((await post(app, '/api/users/register/', { phone: pending })).statusCode, 200)
    const pendingCode = sms.lastCode(pending)

    const other = await holder(t, context.config.databaseUrl)
    // EXCLUSIVE: others may read these tables, nobody else may write them.
    await other.query('begin')
    await other.query(`lock table ${tables} in exclusive mode`)

    const bound = 5000
    assertUnavailable(t, await within(bound, post(app, '/api/users/register/', { phone: '+79123456705' })), 'register')
    assertUnavailable(t, await within(bound, post(app, '/api/users/verify_code/', { phone: pending, auth_code: pendingCode })), 'verify')
    assertUnavailable(t, await within(bound, app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(person.access), payload: { invite_code: inviter.user.invite_code } })), 'activate')
    assertUnavailable(t, await within(bound, post(app, '/api/token/refresh/', { refresh: person.refresh })), 'refresh')
    assertUnavailable(t, await within(bound, post(app, '/api/users/logout/', { refresh: inviter.refresh })), 'logout')
    t.equal((await within(bound, app.inject({ url: '/api/users/me/', headers: bearer(person.access) }))).statusCode, 200, 'GET /api/users/me/')
    clock.advance(6 * 60_000)
    t.equal((await within(bound, app.inject({ url: '/api/users/me/', headers: bearer(person.access) }))).statusCode, 200, 'GET /api/users/me/ when last-seen is due')
    t.equal((await within(bound, app.inject({ url: '/readyz' }))).statusCode, 200, '/readyz')
    await other.query('rollback')

    t.equal((await post(app, '/api/users/register/', { phone: '+79123456705' })).statusCode, 200, 'register')
    t.equal((await post(app, '/api/users/verify_code/', { phone: pending, auth_code: pendingCode })).statusCode, 200, 'verify with the code the failed try left usable')
    t.equal((await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(person.access), payload: { invite_code: inviter.user.invite_code } })).statusCode, 200, 'activate')
    t.equal((await post(app, '/api/token/refresh/', { refresh: person.refresh })).statusCode, 200, 'refresh with the token the failed try did not spend')
    t.equal((await post(app, '/api/users/logout/', { refresh: inviter.refresh })).statusCode, 204, 'logout')
  })
}

t.test('one session row locked: its logout 503s, its reads are served, other people are not held up', async t => {
  if (!runs) return
  const context = await buildTestApp(t, { DATABASE_LOCK_TIMEOUT_MS: '200' })
  const { app, clock } = context
  const person = await signIn(context, '+79123456701')
  const someone = await signIn(context, '+79123456702')
  const other = await holder(t, context.config.databaseUrl)
  await other.query('begin')
  await other.query('select id from sessions where user_id = $1 for update', [person.user.id])

  clock.advance(6 * 60_000)
  t.equal((await within(5000, app.inject({ url: '/api/users/me/', headers: bearer(person.access) }))).statusCode, 200, 'a read whose last-seen write is blocked')
  assertUnavailable(t, await within(5000, post(app, '/api/users/logout/', { refresh: person.refresh })), 'logout of the locked session')
  t.equal((await within(5000, post(app, '/api/users/logout/', { refresh: someone.refresh }))).statusCode, 204, 'someone else\'s logout')
  await other.query('rollback')
  t.equal((await post(app, '/api/users/logout/', { refresh: person.refresh })).statusCode, 204, 'the logout, once let go')
})

t.test('migrations wait for a busy table, whatever the timeouts, and leave them in place', async t => {
  if (!runs) return
  const { schema, drop } = await createSchema()
  t.teardown(drop)
  const url = schemaUrl(schema)
  const setup = createDatabase(url, { postgresPoolSize: 1 })
  await migrateToLatest(setup)
  await migrateDown(setup)
  await setup.destroy()
  // The last migration builds an index on users; this session holds the table meanwhile.
  const other = await holder(t, url)
  await other.query('begin')
  await other.query('lock table users in exclusive mode')

  const config = loadConfig({
    NODE_ENV: 'test', DATABASE_URL: url, PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'silent',
    DATABASE_POOL_SIZE: '1', DATABASE_LOCK_TIMEOUT_MS: '100', DATABASE_STATEMENT_TIMEOUT_MS: '100'
  })
  const starting = buildApp(config)
  // Far beyond both timeouts: had they applied, the start-up would have failed by now.
  await new Promise(resolve => setTimeout(resolve, 1000))
  await other.query('rollback')
  const app = await within(10_000, starting)
  t.teardown(async () => { await app.close() })
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200, 'started, migrated')
  // One connection: the one the migrations ran on, back to the configured timeouts.
  const { rows } = await sql<{ lock: string, statement: string }>`select current_setting('lock_timeout') as lock, current_setting('statement_timeout') as statement`.execute(app.db)
  t.same(rows, [{ lock: '100ms', statement: '100ms' }])
})

t.test('a register held up half-way (one of its counters locked) charges nothing: retries do not lock the person out', async t => {
  if (!runs) return
  const context = await buildTestApp(t, { DATABASE_LOCK_TIMEOUT_MS: '200', OTP_RESEND_SECONDS: '0' })
  const { app, clock } = context
  const phone = '+79123456701'
  t.equal((await post(app, '/api/users/register/', { phone })).statusCode, 200)
  // The next clock hour of the same day: the phone's hourly counter is a new row, its daily
  // one is the row this session holds, so each register fails after taking the hourly count.
  clock.advance(3_600_000)
  const other = await holder(t, context.config.databaseUrl)
  await other.query('begin')
  await other.query('select count from limit_counters where key = $1 for update', [`code:phone:${phone}:d`])
  for (let i = 0; i < 4; i++) assertUnavailable(t, await within(5000, post(app, '/api/users/register/', { phone })), `register, try ${i + 1}`)
  await other.query('rollback')
  const { rows } = await other.query<{ key: string, count: number }>('select key, count from limit_counters where key like $1 and count > 0 order by key', [`code:phone:${phone}:%`])
  t.same(rows.map(row => [row.key.slice(-1), Number(row.count)]).sort(), [['d', 1], ['h', 1]], 'only the first register is counted: the failed tries took nothing')
  t.equal((await post(app, '/api/users/register/', { phone })).statusCode, 200, 'the person gets a code once the lock is let go')
})
