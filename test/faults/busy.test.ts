import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { SqliteDatabase, sqlitePackage } from '../../src/store/sqlite-driver.js'
import type { LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import { bearer, buildTestApp, post, signIn } from '../helpers/app.js'
import { temporarySqlite } from '../helpers/database.js'
import { WebClient } from '../web/web-client.js'

// Another process (the operator CLI, a backup script, sqlite3 at a prompt) holds SQLite's write
// lock longer than DATABASE_LOCK_TIMEOUT_MS: every write answers 503 with Retry-After and
// leaves nothing behind, reads are served, and all works again once the lock is let go.
// SQLite in a temporary file in both passes: the lock is SQLite's own (PostgreSQL's row locks:
// test/faults/postgres-locks.test.ts).

const lockTimeoutMs = 100

function assertUnavailable (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 503, `${what}: 503 (${res.body.slice(0, 120)})`)
  t.equal(res.headers['retry-after'], '2', `${what}: Retry-After`)
  if (res.headers['content-type']?.toString().startsWith('application/json') === true) {
    const body = res.json<{ code: string, detail: string }>()
    t.equal(body.code, 'service_unavailable', `${what}: code`)
    t.match(body.detail, /\S/, `${what}: a detail`)
  } else {
    t.match(res.body, /try again/i, `${what}: the page says to try again`)
  }
}

t.test('a write lock held elsewhere: writes 503 with Retry-After, reads served, all back when it is let go', async t => {
  const database = temporarySqlite()
  t.teardown(database.drop)
  const context = await buildTestApp(t, {
    DATABASE_URL: database.url,
    DATABASE_LOCK_TIMEOUT_MS: String(lockTimeoutMs),
    OTP_RESEND_SECONDS: '0',
    // The pending code outlives the clock's step past the last-seen interval below.
    OTP_TTL_SECONDS: '600'
  })
  const { app, clock, sms } = context
  const [busy] = (await sql<{ timeout: number }>`pragma busy_timeout`.execute(app.db)).rows
  t.equal(busy?.timeout, lockTimeoutMs, 'the busy timeout is the configured one')
  const inviter = await signIn(context, '+79123456701')
  const person = await signIn(context, '+79123456702')
  const pending = '+79123456703'
  t.equal((await post(app, '/api/users/register/', { phone: pending })).statusCode, 200)
  const pendingCode = sms.lastCode(pending)
  const browser = new WebClient(app)
  t.equal((await browser.signIn(context, '+79123456704')).statusCode, 303)
  const formToken = await browser.token('/profile')

  // The holder: a second connection to the same file, as another process would have.
  const holder = new SqliteDatabase(database.url.slice('sqlite:'.length))
  t.teardown(() => { holder.close() })
  holder.exec('begin immediate')
  const locked = { count: (table: string) => (holder.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n }
  const before = { users: locked.count('users'), sessions: locked.count('sessions'), codes: locked.count('login_codes'), counters: locked.count('limit_counters') }

  assertUnavailable(t, await post(app, '/api/users/register/', { phone: '+79123456705' }), 'register')
  assertUnavailable(t, await post(app, '/api/users/verify_code/', { phone: pending, auth_code: pendingCode }), 'verify')
  assertUnavailable(t, await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(person.access), payload: { invite_code: inviter.user.invite_code } }), 'activate an invite')
  assertUnavailable(t, await post(app, '/api/token/refresh/', { refresh: person.refresh }), 'refresh')
  assertUnavailable(t, await post(app, '/api/users/logout/', { refresh: inviter.refresh }), 'logout')
  assertUnavailable(t, await browser.post('/profile/invite', { _csrf: formToken, invite_code: inviter.user.invite_code }), 'the invite form')
  assertUnavailable(t, await browser.post('/profile/sessions/sign-out-others', { _csrf: formToken }), 'the sign-out-others form')
  assertUnavailable(t, await browser.post('/logout', { _csrf: formToken }), 'the sign-out form')
  assertUnavailable(t, await new WebClient(app).submit('/login', '/login', { phone: '+79123456706' }), 'the login form')

  // Reads need no write lock (WAL): served while it is held.
  const me = await app.inject({ url: '/api/users/me/', headers: bearer(person.access) })
  t.equal(me.statusCode, 200, 'GET /api/users/me/')
  t.equal(me.json<{ phone: string }>().phone, '+79123456702')
  t.equal((await app.inject({ url: '/api/users/me/invited/', headers: bearer(inviter.access) })).statusCode, 200, 'GET /api/users/me/invited/')
  t.equal((await browser.get('/profile')).statusCode, 200, 'the profile page')
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200, '/readyz: the database answers')
  // Past the five minutes after which a read also notes the session's last-seen time: that
  // write is optional, and its failure must not fail the read.
  clock.advance(6 * 60_000)
  const late = await app.inject({ url: '/api/users/me/', headers: bearer(person.access) })
  t.equal(late.statusCode, 200, 'GET /api/users/me/ when last-seen is due')
  t.equal((await browser.get('/profile')).statusCode, 200, 'the profile page when last-seen is due')

  t.same({ users: locked.count('users'), sessions: locked.count('sessions'), codes: locked.count('login_codes'), counters: locked.count('limit_counters') },
    before, 'nothing was written while the lock was held')
  holder.exec('rollback')

  // Let go: the same requests succeed, on the same process, with the same code and tokens.
  t.equal((await post(app, '/api/users/register/', { phone: '+79123456705' })).statusCode, 200, 'register')
  const verified = await post(app, '/api/users/verify_code/', { phone: pending, auth_code: pendingCode })
  t.equal(verified.statusCode, 200, 'verify with the code the failed try left usable')
  t.equal((await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(person.access), payload: { invite_code: inviter.user.invite_code } })).statusCode, 200, 'activate')
  const refreshed = await post(app, '/api/token/refresh/', { refresh: person.refresh })
  t.equal(refreshed.statusCode, 200, 'refresh with the token the failed try did not spend')
  t.equal((await post(app, '/api/users/logout/', { refresh: inviter.refresh })).statusCode, 204, 'logout')
  t.equal((await post(app, '/api/token/refresh/', { refresh: inviter.refresh })).statusCode, 401, 'and the logout took')
  t.equal((await new WebClient(app).submit('/login', '/login', { phone: '+79123456706' })).statusCode, 303, 'the login form')
  t.equal((await browser.post('/profile/invite', { _csrf: formToken, invite_code: person.user.invite_code })).headers.location, '/profile', 'the invite form')
  t.equal((await browser.post('/logout', { _csrf: formToken })).headers.location, '/login', 'the sign-out form')
  const seen = holder.prepare('select last_seen_at from sessions where user_id = ? order by created_at limit 1').get(person.user.id) as { last_seen_at: number }
  t.equal(seen.last_seen_at, clock.now(), 'last-seen is written again once the lock is free')
})

t.test('while the lock stays held, one write waits for it and the next are refused at once: nothing piles up', async t => {
  const database = temporarySqlite()
  t.teardown(database.drop)
  const timeoutMs = 1000
  const context = await buildTestApp(t, { DATABASE_URL: database.url, DATABASE_LOCK_TIMEOUT_MS: String(timeoutMs), LIMIT_CODES_PER_IP_HOUR: '1000' })
  const { app } = context
  const person = await signIn(context, '+79123456701')
  const holder = new SqliteDatabase(database.url.slice('sqlite:'.length))
  t.teardown(() => { holder.close() })
  holder.exec('begin immediate')

  // better-sqlite3 waits for a lock inside the call, holding up the whole process: were every
  // write to wait the full timeout, twenty would hold everything up for twenty timeouts.
  const took: number[] = []
  for (let n = 0; n < 20; n++) {
    const started = performance.now()
    assertUnavailable(t, await post(app, '/api/users/register/', { phone: `+7912345${String(6000 + n)}` }), `write ${n + 1}`)
    took.push(performance.now() - started)
  }
  const [first = 0, ...rest] = took
  const others = rest.reduce((sum, ms) => sum + ms, 0)
  t.ok(others < first, `the 19 writes after the first took ${Math.round(others)} ms together, less than the first alone (${Math.round(first)} ms)`)
  t.equal((await app.inject({ url: '/api/users/me/', headers: bearer(person.access) })).statusCode, 200, 'reads are served meanwhile')
  holder.exec('rollback')

  // Once a write gets through, writes wait for a lock again: another process holding it
  // briefly (less than the timeout) delays a write, it does not fail it.
  t.equal((await post(app, '/api/users/register/', { phone: '+79123457000' })).statusCode, 200, 'the first write after the lock is let go')
  const brief = spawn(process.execPath, ['-e', `
    const db = new (require('${sqlitePackage}'))(${JSON.stringify(database.url.slice('sqlite:'.length))})
    db.exec('begin immediate')
    console.log('locked')
    setTimeout(() => { db.exec('commit'); db.close(); console.log('released') }, ${Math.round(timeoutMs / 3)})
  `], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] })
  const said: string[] = []
  const locked = new Promise<void>(resolve => brief.stdout.on('data', (chunk: Buffer) => {
    said.push(...chunk.toString().trim().split('\n'))
    if (said.includes('locked')) resolve()
  }))
  const exited = new Promise(resolve => brief.on('exit', resolve))
  await locked
  const res = await post(app, '/api/users/register/', { phone: '+79123457001' })
  await exited
  t.equal(res.statusCode, 200, `a write while another process holds the lock for ${Math.round(timeoutMs / 3)} ms waits for it (${res.body.slice(0, 80)})`)
})
