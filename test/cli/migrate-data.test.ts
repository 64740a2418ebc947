import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { migrateData } from '../../src/cli/migrate-data.js'
import { testSecret } from '../helpers/app.js'
import { openTestDatabase, temporarySqlite } from '../helpers/database.js'
import { runScript } from '../helpers/instance.js'
import { startSmsSink, type SmsSink } from '../helpers/sms-sink.js'

// A seeded SQLite file copied to this pass's database (another SQLite file, or a fresh
// PostgreSQL schema) with the real command; then an app on the copy answers as the old one did.

interface Tap { teardown: (fn: () => unknown) => void }

async function appOn (t: Tap, url: string, sms: SmsSink): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig({
    NODE_ENV: 'test', DATABASE_URL: url, PHONEPASS_SECRET: testSecret, SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: sms.url, LOG_LEVEL: 'silent'
  }))
  t.teardown(async () => { await app.close() })
  return app
}

async function signIn (app: FastifyInstance, sms: SmsSink, phone: string): Promise<{ access: string, refresh: string, user: { invite_code: string } }> {
  await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone } })
  const verified = await app.inject({ method: 'POST', url: '/api/users/verify_code/', payload: { phone, auth_code: sms.lastCode(phone) } })
  return verified.json()
}

async function me (app: FastifyInstance, access: string) {
  return await app.inject({ method: 'GET', url: '/api/users/me/', headers: { authorization: `Bearer ${access}` } })
}

/** An SMS sink, a SQLite file to seed, and an empty target on this pass's database. */
async function setUp (t: Tap) {
  const sms = await startSmsSink()
  t.teardown(async () => { await sms.close() })
  const source = temporarySqlite()
  t.teardown(source.drop)
  const target = await openTestDatabase({ shared: true })
  t.teardown(target.drop)
  return { sms, sourceUrl: source.url, target }
}

t.test('a seeded SQLite database copied by `migrate-data` gives the same profiles, sessions and refresh rules', async t => {
  const { sms, sourceUrl, target } = await setUp(t)

  const old = await appOn(t, sourceUrl, sms)
  const people = []
  for (const phone of ['+79123450001', '+79123450002', '+79123450003', '+79123450004']) people.push(await signIn(old, sms, phone))
  const [first, second, third, gone] = people as [typeof people[0], typeof people[0], typeof people[0], typeof people[0]]
  const patch = async (who: { access: string }, code: string) => await old.inject({ method: 'PATCH', url: '/api/profile/', payload: { invite_code: code }, headers: { authorization: `Bearer ${who.access}` } })
  t.equal((await patch(second, first.user.invite_code)).statusCode, 200)
  t.equal((await patch(first, third.user.invite_code)).statusCode, 200, 'an older account invited by a newer one: ids out of order')
  const rotated = (await old.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: first.refresh } })).json<{ refresh: string }>()
  await old.inject({ method: 'POST', url: '/api/users/logout/', headers: { authorization: `Bearer ${gone.access}` } })
  // More accounts than a sign-in retries invite codes, so new ids must really continue after them.
  await old.db.insertInto('users').values(Array.from({ length: 8 }, (_, i) => ({ phone: `+7912345100${i}`, invite_code: `ZZZZZ${i}`, created_at: Date.now() }))).execute()
  const profiles = await Promise.all([first, second, third].map(async person => (await me(old, person.access)).json()))
  await old.close()

  const copied = await runScript('src/cli/migrate-data.ts', ['--from', sourceUrl, '--to', target.url])
  t.equal(copied.code, 0, copied.output)
  t.match(copied.output, /copied 12 users, 3 live sessions and 4 refresh tokens \(and 1 signing keys, 0 webhook events not yet delivered\)/)

  const moved = await appOn(t, target.url, sms)
  t.same(await Promise.all([first, second, third].map(async person => (await me(moved, person.access)).json())), profiles, 'the same profiles, invites both ways, with access tokens signed before the move')
  t.equal((await me(moved, gone.access)).statusCode, 401, 'a session ended before the move stays ended')
  const again = await moved.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: rotated.refresh } })
  t.equal(again.statusCode, 200, 'the live refresh token works on the new database')
  const reuse = await moved.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: first.refresh } })
  t.equal(reuse.statusCode, 401, 'a token spent before the move is still spent')
  const newcomer = await signIn(moved, sms, '+79123450005')
  t.equal((await me(moved, newcomer.access)).json().id, 13, 'new accounts continue after the copied ids')

  const refused = await runScript('src/cli/migrate-data.ts', ['--from', sourceUrl, '--to', target.url])
  t.equal(refused.code, 1)
  t.match(refused.output, /refused: the target database already has 13 user\(s\)\. Nothing was copied\. Pass --force/)
})

t.test('--force merges, and running it twice changes nothing', async t => {
  const { sms, sourceUrl, target } = await setUp(t)
  const old = await appOn(t, sourceUrl, sms)
  const person = await signIn(old, sms, '+79123450001')
  const before = (await me(old, person.access)).json()
  await old.close()

  const lines: string[] = []
  t.equal(await migrateData(['--from', sourceUrl, '--to', target.url], line => lines.push(line)), 0, lines.join('\n'))
  t.equal(await migrateData(['--from', sourceUrl, '--to', target.url, '--force'], line => lines.push(line)), 0, lines.join('\n'))
  t.equal(await migrateData(['--from', sourceUrl, '--to', target.url, '--force'], line => lines.push(line)), 0, lines.join('\n'))
  const moved = await appOn(t, target.url, sms)
  t.same((await me(moved, person.access)).json(), before)
  t.equal((await moved.db.selectFrom('users').select('id').execute()).length, 1, 'one account, not three')
  t.equal((await moved.db.selectFrom('sessions').select('id').execute()).length, 1)
})

t.test('webhook events not yet delivered move too, in order, once', async t => {
  const { sms, sourceUrl, target } = await setUp(t)
  const old = await appOn(t, sourceUrl, sms)
  const base = { type: 'user.created', user_id: 1, payload: '{"type":"user.created"}', next_attempt_at: 5, created_at: 1 }
  await old.db.insertInto('webhook_events').values([
    { ...base, msg_id: 'msg_gone', status: 'delivered', attempts: 1, finished_at: 2 },
    { ...base, msg_id: 'msg_first', status: 'pending', attempts: 2, lease_until: 99, last_status: 500, last_error: 'answered 500' },
    { ...base, msg_id: 'msg_failed', status: 'failed', attempts: 8, finished_at: 3 },
    { ...base, msg_id: 'msg_second', status: 'pending', attempts: 0 }
  ]).execute()
  await old.close()
  const lines: string[] = []
  t.equal(await migrateData(['--from', sourceUrl, '--to', target.url], line => lines.push(line)), 0, lines.join('\n'))
  t.match(lines.join('\n'), /\(and 1 signing keys, 3 webhook events not yet delivered\)/)
  t.equal(await migrateData(['--from', sourceUrl, '--to', target.url, '--force'], line => lines.push(line)), 0, lines.join('\n'))
  const moved = await appOn(t, target.url, sms)
  const rows = await moved.db.selectFrom('webhook_events').select(['msg_id', 'status', 'attempts', 'lease_until', 'last_error']).orderBy('id').execute()
  t.same(rows, [
    { msg_id: 'msg_first', status: 'pending', attempts: 2, lease_until: null, last_error: 'answered 500' },
    { msg_id: 'msg_failed', status: 'failed', attempts: 8, lease_until: null, last_error: null },
    { msg_id: 'msg_second', status: 'pending', attempts: 0, lease_until: null, last_error: null }
  ], 'the undelivered ones, in order, once; the lease dropped')
})

t.test('migrate-data explains wrong arguments', async t => {
  const lines: string[] = []
  t.equal(await migrateData([], line => lines.push(line)), 2)
  t.match(lines.pop(), /--from and --to are both needed/)
  t.equal(await migrateData(['--from', 'mysql://x', '--to', 'sqlite:/tmp/x.db'], line => lines.push(line)), 2)
  t.equal(await migrateData(['--from', 'sqlite:/tmp/x.db', '--to', 'sqlite:/tmp/x.db'], line => lines.push(line)), 2)
  t.match(lines.pop(), /same database/)
  t.equal(await migrateData(['--bogus'], line => lines.push(line)), 2)
  t.match(lines.pop(), /Unknown option '--bogus'/)
  t.equal(await migrateData(['--help'], line => lines.push(line)), 0)
  t.match(lines.pop(), /^usage: npm run migrate-data/)
})

t.test('the admin audit log moves whole, with its ids, once; entries after the move continue after them', async t => {
  const { sms, sourceUrl, target } = await setUp(t)
  const old = await appOn(t, sourceUrl, sms)
  const person = await signIn(old, sms, '+79123450011')
  const id = (await me(old, person.access)).json<{ id: number }>().id
  const support = { actor: { kind: 'key' as const, name: 'support' }, ip: '203.0.113.1', requestId: 'req-1' }
  await old.services.admin.blockUser(support, id, 'spam')
  await old.services.admin.deleteUser(support, id, 'asked')
  const before = await old.db.selectFrom('admin_audit').selectAll().orderBy('id').execute()
  await old.close()

  const lines: string[] = []
  t.equal(await migrateData(['--from', sourceUrl, '--to', target.url], line => lines.push(line)), 0, lines.join('\n'))
  t.match(lines[0], /\) and 2 audit log entries from /)
  t.equal(await migrateData(['--from', sourceUrl, '--to', target.url, '--force'], line => lines.push(line)), 0, lines.join('\n'))
  const moved = await appOn(t, target.url, sms)
  t.same(await moved.db.selectFrom('admin_audit').selectAll().orderBy('id').execute(), before, 'the same entries, ids and all, once')
  const other = await signIn(moved, sms, '+79123450012')
  await moved.services.admin.revokeAllSessions(support, (await me(moved, other.access)).json<{ id: number }>().id)
  const ids = (await moved.db.selectFrom('admin_audit').select('id').orderBy('id').execute()).map(row => row.id)
  t.same(ids, [1, 2, 3])
})
