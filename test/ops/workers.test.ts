import t from 'tap'
import { sql } from 'kysely'
import { migrations } from '../../migrations/index.js'
import { createDatabase, type Db } from '../../src/store/database.js'
import { openTestDatabase } from '../helpers/database.js'
import { pidsThatAnswered, request, startInstance, type HttpAnswer, type Instance } from '../helpers/instance.js'
import { startSmsSink, type SmsSink } from '../helpers/sms-sink.js'

// WEB_CONCURRENCY=2: a cluster primary and two worker processes on one port and one database (a
// SQLite file in the SQLite pass, a PostgreSQL schema in the PostgreSQL pass), driven over real
// HTTP with many requests at once. Every limit and one-time rule must hold across the workers
// as within one process, and GET /metrics must count every worker's requests.

// Starting three processes takes a while on a loaded machine: a budget for this file, not a
// timing assertion.
t.setTimeout(600_000)

const metricsToken = 'workers-metrics-token-0123456789'
let instance: Instance
let sms: SmsSink
let db: Db

t.before(async () => {
  const database = await openTestDatabase({ shared: true })
  sms = await startSmsSink()
  instance = await startInstance(t, {
    WEB_CONCURRENCY: '2',
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: '3',
    SMS_PROVIDER: 'webhook',
    SMS_WEBHOOK_URL: sms.url,
    METRICS_TOKEN: metricsToken,
    // Each test sends from addresses of its own, in X-Forwarded-For, so the per-IP limits are
    // its own too.
    TRUST_PROXY: '1',
    // A phone's codes are then limited only by its hourly quota, the counter under test below.
    OTP_RESEND_SECONDS: '0',
    // Wrong guesses and activations are counted, and checked, below; their budgets would
    // otherwise refuse first and hide the one-time rules.
    LIMIT_WRONG_CODES_PER_PHONE_DAY: '1000',
    LIMIT_WRONG_CODES_PER_IP_HOUR: '1000',
    LIMIT_WRONG_INVITES_PER_USER_HOUR: '1000'
  })
  db = createDatabase(database.url, { postgresPoolSize: 1 })
  t.teardown(async () => {
    await instance.stop()
    await db.destroy()
    await sms.close()
    await database.drop()
  })
})

/** A request from `ip`, on a connection of its own (so the cluster hands it to the next worker). */
async function call (method: string, path: string, ip: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return await request(`${instance.url}${path}`, method, body, { 'x-forwarded-for': ip, connection: 'close', ...headers })
}

async function signIn (phone: string, ip: string): Promise<{ access: string, user: { invite_code: string } }> {
  const sent = await call('POST', '/api/users/register/', ip, { phone })
  if (sent.status !== 200) throw new Error(`register: ${sent.status} ${JSON.stringify(sent.body)}`)
  const verified = await call('POST', '/api/users/verify_code/', ip, { phone, auth_code: sms.lastCode(phone) })
  if (verified.status !== 200) throw new Error(`verify: ${verified.status} ${JSON.stringify(verified.body)}`)
  return verified.body as never
}

function wrongCode (code: string): string {
  return String((Number(code) + 1) % 10_000).padStart(4, '0')
}

t.test('the primary migrates and makes the signing key once, before two workers start', async t => {
  const primary = instance.process.pid
  const migrated = instance.logs.filter(entry => entry.msg === 'database migrated')
  t.equal(migrated.length, 1, 'migrated once')
  t.equal(migrated[0]?.pid, primary, 'by the primary')
  const keys = instance.logs.filter(entry => String(entry.msg).startsWith('signing key created'))
  t.match(keys, [{ pid: primary, msg: 'signing key created: none in use' }], 'one key, made by the primary')
  const started = instance.logs.filter(entry => entry.msg === 'worker started')
  t.equal(started.length, 2)
  t.ok(instance.logs.indexOf(migrated[0]!) < instance.logs.indexOf(started[0]!), 'migrated before any worker started')
  const workerPids = instance.logs.filter(entry => String(entry.msg).startsWith('Server listening at')).map(entry => entry.pid)
  t.equal(new Set(workerPids).size, 2, 'two workers listen')
  t.notOk(workerPids.includes(primary), 'neither is the primary')
  const recorded = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)
  t.same(recorded.rows, Object.keys(migrations).map(name => ({ name })), 'each migration recorded once')
  t.same(await db.selectFrom('signing_keys').select('generation').execute(), [{ generation: 1 }], 'one signing key')
  t.equal(instance.logs.filter(entry => String(entry.msg).startsWith('metrics at GET /metrics')).length, 1, 'the start-up lines are written once, by the primary')
})

t.test('requests are spread over both workers, and each log line names its worker', async t => {
  const ids = Array.from({ length: 20 }, (_, n) => `spread-${n}`)
  const answers = await Promise.all(ids.map(async id => await call('GET', '/healthz', '192.0.2.1', undefined, { 'x-request-id': id })))
  t.same(answers.map(answer => answer.status), ids.map(() => 200))
  const pids = await pidsThatAnswered(instance, ids)
  t.equal(pids.size, 2, 'both workers answered')
  t.notOk(pids.has(instance.process.pid), 'the primary answers nothing itself')
  const lines = instance.logs.filter(entry => entry.msg === 'request' && ids.includes(String(entry.reqId)))
  t.ok(lines.every(line => line.worker === 1 || line.worker === 2), 'every request line says which worker')
})

t.test('30 wrong guesses at once over both workers: 3 reach the code, and all 30 are counted for the phone', async t => {
  const phone = '+79123450030'
  t.equal((await call('POST', '/api/users/register/', '198.51.100.30', { phone })).status, 200)
  const wrong = wrongCode(sms.lastCode(phone))
  const answers = await Promise.all(Array.from({ length: 30 }, async () => await call('POST', '/api/users/verify_code/', '198.51.100.30', { phone, auth_code: wrong })))
  t.equal(answers.filter(answer => answer.body.code === 'code_invalid').length, 3)
  t.equal(answers.filter(answer => answer.body.code === 'too_many_attempts').length, 27)
  t.same(await db.selectFrom('login_codes').select('attempts').where('phone', '=', phone).execute(), [{ attempts: 3 }])
  t.same(await db.selectFrom('limit_counters').select('count').where('key', '=', `wrong:phone:${phone}:d`).execute(), [{ count: 30 }])
})

t.test('one code sent 20 times at once over both workers signs in once', async t => {
  const phone = '+79123450020'
  t.equal((await call('POST', '/api/users/register/', '198.51.100.20', { phone })).status, 200)
  const code = sms.lastCode(phone)
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await call('POST', '/api/users/verify_code/', '198.51.100.20', { phone, auth_code: code })))
  t.equal(answers.filter(answer => answer.status === 200).length, 1, 'one sign-in')
  t.notOk(answers.some(answer => answer.status >= 500), 'no 5xx')
  const sessions = await db.selectFrom('sessions').innerJoin('users', 'users.id', 'sessions.user_id').select('sessions.id').where('users.phone', '=', phone).execute()
  t.equal(sessions.length, 1, 'one session')
})

t.test('20 activations at once over both workers: one invite is activated', async t => {
  const me = await signIn('+79123451100', '198.51.100.100')
  const inviters = []
  // From addresses of their own: the IP's 10 codes an hour are not what this test is about.
  for (let n = 0; n < 20; n++) inviters.push(await signIn(`+7912345${String(1101 + n)}`, `198.51.101.${n}`))
  const answers = await Promise.all(inviters.map(async inviter => await call('PATCH', '/api/profile/', '198.51.100.100', { invite_code: inviter.user.invite_code }, { authorization: `Bearer ${me.access}` })))
  t.equal(answers.filter(answer => answer.status === 200).length, 1)
  t.equal(answers.filter(answer => answer.body.code === 'invite_already_activated').length, 19)
  const invited = await db.selectFrom('users').select('invited_by').where('phone', '=', '+79123451100').executeTakeFirstOrThrow()
  t.not(invited.invited_by, null)
})

t.test('the send limits hold over both workers: a phone\'s 3 codes an hour, an address\'s 10', async t => {
  const phone = '+79123452000'
  const burst = await Promise.all(Array.from({ length: 20 }, async (_, n) => await call('POST', '/api/users/register/', `203.0.113.${n + 1}`, { phone })))
  const sent = burst.filter(answer => answer.status === 200).length
  t.ok(sent <= 3, `${sent} of 20 at once sent`)
  // With no cooldown (OTP_RESEND_SECONDS=0) a code stored in the same instant as another can
  // still be refused as too soon on PostgreSQL; a refusal spends no quota either way.
  t.ok(burst.every(answer => answer.status === 200 || answer.body.code === 'too_many_codes' || answer.body.code === 'resend_too_soon'), 'the others refused, by the quota (or the same instant)')
  // Then one at a time until the quota refuses: the hour's codes add up to exactly 3.
  let later = 0
  for (let n = 0; n <= 3; n++) {
    const next = await call('POST', '/api/users/register/', `203.0.113.${100 + n}`, { phone })
    if (next.status !== 200) {
      t.equal(next.body.code, 'too_many_codes')
      break
    }
    later++
  }
  t.equal(sent + later, 3, 'the phone\'s 3 codes of the hour, no more')
  t.equal(sms.messages.filter(message => message.to === phone).length, 3, 'three SMS')

  const fromOneAddress = await Promise.all(Array.from({ length: 30 }, async (_, n) => await call('POST', '/api/users/register/', '203.0.113.200', { phone: `+791234530${String(n).padStart(2, '0')}` })))
  t.equal(fromOneAddress.filter(answer => answer.status === 200).length, 10, 'the address\'s 10 codes of the hour')
  t.equal(fromOneAddress.filter(answer => answer.body.code === 'rate_limited').length, 20)
  t.same(await db.selectFrom('limit_counters').select('count').where('key', '=', 'code:ip:203.0.113.200:h').execute(), [{ count: 10 }])
})

t.test('GET /metrics adds up both workers, whichever answers, behind the same token', async t => {
  const answers = await Promise.all(Array.from({ length: 50 }, async () => await call('GET', '/readyz', '192.0.2.2')))
  t.same(answers.map(answer => answer.status), answers.map(() => 200))
  const ids = Array.from({ length: 4 }, (_, n) => `scrape-${n}`)
  const series = 'phonepass_http_request_duration_seconds_count{method="GET",route="/readyz",status="200"} '
  for (const id of ids) {
    const scrape = await call('GET', '/metrics', '192.0.2.2', undefined, { authorization: `Bearer ${metricsToken}`, 'x-request-id': id })
    t.equal(scrape.status, 200)
    const text = String(scrape.body.text)
    t.equal(text.split('\n').find(line => line.startsWith(series)), `${series}50`, `${id}: the 50 requests, over both workers`)
    t.match(text, /^process_resident_memory_bytes \d+$/m, 'the workers\' memory, added up')
  }
  t.equal((await pidsThatAnswered(instance, ids)).size, 2, 'both workers answered a scrape')
  const anonymous = await Promise.all([0, 1, 2, 3].map(async () => await call('GET', '/metrics', '192.0.2.2')))
  t.same(anonymous.map(answer => answer.status), [401, 401, 401, 401], 'no token: 401 from either worker')
})
