import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { createDatabase, isDatabaseUnavailable } from '../../src/store/database.js'
import { postgresOnly } from '../helpers/database.js'
import { request, startInstance } from '../helpers/instance.js'
import { startPgServer, type PgServer } from '../helpers/pg-server.js'
import { startSmsSink } from '../helpers/sms-sink.js'

// A PostgreSQL server of this file's own (TLS on, a self-signed certificate), so the tests can
// stop it under a running phonepass and read which connections are encrypted.
const runs = postgresOnly()

let server: PgServer

t.before(async () => {
  if (!runs) return
  server = await startPgServer({ ssl: true })
  t.teardown(async () => { await server.destroy() })
})

async function isEncrypted (url: string, pgSslMode?: string): Promise<boolean> {
  const db = createDatabase(url, { postgresPoolSize: 1, pgSslMode })
  try {
    const { rows } = await sql<{ ssl: boolean }>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`.execute(db)
    return rows[0]?.ssl === true
  } finally {
    await db.destroy()
  }
}

t.test('sslmode in the URL and PGSSLMODE are honoured with libpq\'s meaning', async t => {
  t.equal(await isEncrypted(server.url), false, 'no sslmode: plain, as node-postgres does by default')
  t.equal(await isEncrypted(`${server.url}?sslmode=require`), true, '?sslmode=require encrypts (without checking the certificate, as libpq)')
  t.equal(await isEncrypted(server.url, 'require'), true, 'PGSSLMODE=require does too')
  t.equal(await isEncrypted(`${server.url}?sslmode=disable`, 'require'), false, 'the URL wins over PGSSLMODE')
  t.equal(await isEncrypted(server.url, 'no-verify'), true, 'no-verify (Heroku\'s advice) encrypts')
  await t.rejects(isEncrypted(`${server.url}?sslmode=verify-full`), /self[- ]signed/, 'verify-full checks the certificate: a self-signed one is refused')
})

t.test('a connection dropped in the middle of a transaction: the statement fails as "unavailable", the process lives', async t => {
  const db = createDatabase(server.url, { postgresPoolSize: 2 })
  t.teardown(async () => { await db.destroy() })
  const admin = createDatabase(server.url, { postgresPoolSize: 1 })
  t.teardown(async () => { await admin.destroy() })
  const failure = await db.transaction().execute(async trx => {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)
    // The server ends this very connection while the transaction holds it between statements.
    await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(admin)
    await sleep(200)
    return await sql`select 1`.execute(trx).then(() => undefined, (error: unknown) => error)
  }).catch((error: unknown) => error)
  t.ok(isDatabaseUnavailable(failure), `mapped to 503: ${String(failure)}`)
  const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db)
  t.same(rows, [{ one: 1 }], 'the pool opens a new connection for the next caller')
})

t.test('the database stopped under a running instance: 503 with Retry-After, never a 500; back by itself', async t => {
  const sms = await startSmsSink()
  t.teardown(async () => { await sms.close() })
  const instance = await startInstance(t, { DATABASE_URL: server.url, SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: sms.url })
  const phone = '+79123456789'
  await request(`${instance.url}/api/users/register/`, 'POST', { phone })
  const signedIn = await request(`${instance.url}/api/users/verify_code/`, 'POST', { phone, auth_code: sms.lastCode(phone) })
  t.equal(signedIn.status, 200)
  const auth = { authorization: `Bearer ${String(signedIn.body.access)}` }
  t.equal((await request(`${instance.url}/readyz`, 'GET')).status, 200)

  // Traffic keeps flowing while the server goes down and comes back.
  const statuses: number[] = []
  let flowing = true
  const traffic = (async () => {
    for (let n = 0; flowing; n++) {
      const answers = await Promise.all([
        request(`${instance.url}/api/users/me/`, 'GET', undefined, auth),
        request(`${instance.url}/api/users/register/`, 'POST', { phone: `+7912${String(1_000_000 + n)}` }),
        request(`${instance.url}/api/users/verify_code/`, 'POST', { phone: '+79120000000', auth_code: '0000' })
      ])
      statuses.push(...answers.map(answer => answer.status))
      await sleep(20)
    }
  })()

  await sleep(200)
  await server.stop()
  const ready = await request(`${instance.url}/readyz`, 'GET')
  t.equal(ready.status, 503, '/readyz says not ready while the database is down')
  const me = await request(`${instance.url}/api/users/me/`, 'GET', undefined, auth)
  t.equal(me.status, 503, 'the API answers 503')
  t.equal(me.body.code, 'service_unavailable')
  t.ok(Number(me.headers.get('retry-after')) > 0, 'with Retry-After')
  t.type(me.body.detail, 'string')
  const register = await request(`${instance.url}/api/users/register/`, 'POST', { phone: '+79123450000' })
  t.equal(register.status, 503, 'a write answers 503 too')
  t.ok(register.headers.get('retry-after'))
  await sleep(300)

  await server.start()
  let back = 0
  for (let i = 0; i < 150 && back !== 200; i++) {
    back = (await request(`${instance.url}/readyz`, 'GET')).status
    if (back !== 200) await sleep(100)
  }
  t.equal(back, 200, '/readyz is 200 again once the database is back')
  flowing = false
  await traffic

  t.ok(statuses.includes(503), 'the traffic saw the outage')
  t.same(statuses.filter(status => status >= 500 && status !== 503), [], 'and never a 500')
  t.equal((await request(`${instance.url}/api/users/me/`, 'GET', undefined, auth)).status, 200, 'the session from before works again')
  const fresh = await request(`${instance.url}/api/users/register/`, 'POST', { phone: '+79123450001' })
  t.equal(fresh.status, 200, 'writes work again')
  t.equal(instance.process.exitCode, null, 'the same process, never restarted')
})
