import t from 'tap'
import { sql } from 'kysely'
import { isDatabaseUnavailable } from '../../src/store/database.js'
import { bearer, buildTestApp, post, signIn } from '../helpers/app.js'
import { temporarySqlite } from '../helpers/database.js'

// A full disk, stood in for by SQLite's max_page_count: it is per connection, and app.db is
// the app's one connection, so the pragma is run through it. Writes answer 503 with
// Retry-After, reads are served, nothing is half-written, and writes work again once there is
// room, on the same process. SQLite in a temporary file in both passes; PostgreSQL's full
// disk is below: its errors are mapped to 503 like SQLite's.

const phone = (n: number) => `+7912${String(2_000_000 + n)}`

t.test('a full database: writes 503, reads served, nothing half-written, back when there is room', async t => {
  const database = temporarySqlite()
  t.teardown(database.drop)
  const context = await buildTestApp(t, {
    DATABASE_URL: database.url,
    OTP_RESEND_SECONDS: '0',
    // Every request comes from one IP: its budgets are raised; the phone's stay at their
    // defaults (3 codes an hour), so a failed register that charged one would show.
    LIMIT_CODES_PER_IP_HOUR: '100000',
    LIMIT_WRONG_CODES_PER_IP_HOUR: '100000',
    SMS_HOURLY_CAP: '100000'
  })
  const { app, sms } = context
  const db = app.db
  const person = await signIn(context, '+79123456701')
  const invited = await signIn(context, '+79123456702')

  // Codes waiting for verification, each with one wrong try behind it: their counters exist,
  // so under the full disk their right try gets as far as the sign-in's transaction.
  const pending: string[] = []
  for (let n = 0; n < 40; n++) {
    t.equal((await post(app, '/api/users/register/', { phone: phone(n) })).statusCode, 200)
    const wrong = String((Number(sms.lastCode(phone(n))) + 1) % 10_000).padStart(4, '0')
    t.equal((await post(app, '/api/users/verify_code/', { phone: phone(n), auth_code: wrong })).statusCode, 400)
    pending.push(phone(n))
  }

  const pageCount = async (): Promise<number> => (await sql<{ page_count: number }>`pragma page_count`.execute(db)).rows[0]!.page_count
  const setMaxPages = async (pages: number): Promise<void> => { await sql.raw(`pragma max_page_count = ${pages}`).execute(db) }
  await setMaxPages(await pageCount() + 1)

  // Registers of new phones fill the pages there are, until they fail.
  const registered = new Map<string, number>()
  for (let n = 100; n < 2000 && registered.size - [...registered.values()].filter(s => s === 200).length < 20; n++) {
    const res = await post(app, '/api/users/register/', { phone: phone(n) })
    registered.set(phone(n), res.statusCode)
    if (res.statusCode !== 200) {
      t.equal(res.statusCode, 503, `register ${phone(n)}: 200 or 503 (${res.body})`)
      t.equal(res.headers['retry-after'], '2')
      t.equal(res.json<{ code: string }>().code, 'service_unavailable')
    }
  }
  const failedRegisters = [...registered].filter(([, status]) => status !== 200).map(([p]) => p)
  t.equal(failedRegisters.length, 20, `the disk filled up after ${registered.size - 20} registers`)
  // A person who keeps trying while the disk is full spends nothing of their quota (3 an hour).
  const retrier = failedRegisters[0]!
  for (let i = 0; i < 5; i++) t.equal((await post(app, '/api/users/register/', { phone: retrier })).statusCode, 503, 'a retry while full')

  // Sign-ins with a long User-Agent (a large session row): the counters they touch exist,
  // so those that fail, fail inside the sign-in's transaction, after the code was deleted.
  const verified = new Map<string, number>()
  for (const p of pending) {
    const res = await post(app, '/api/users/verify_code/', { phone: p, auth_code: sms.lastCode(p) }, { 'user-agent': 'x'.repeat(256) })
    verified.set(p, res.statusCode)
    if (res.statusCode !== 200) {
      t.equal(res.statusCode, 503, `verify ${p}: 200 or 503, nothing else (${res.body})`)
      t.equal(res.headers['retry-after'], '2')
      t.equal(res.json<{ code: string }>().code, 'service_unavailable')
    }
  }
  const failedVerifies = pending.filter(p => verified.get(p) !== 200)
  t.ok(failedVerifies.length > 0, `sign-ins fail too (${pending.length - failedVerifies.length} of ${pending.length} went through)`)

  // Reads need no room.
  t.equal((await app.inject({ url: '/api/users/me/', headers: bearer(person.access) })).statusCode, 200, 'GET /api/users/me/')
  t.equal((await app.inject({ url: '/api/users/me/invited/', headers: bearer(person.access) })).statusCode, 200, 'GET /api/users/me/invited/')
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200, '/readyz')

  // Nothing half-written.
  const orphans = await sql<{ sessions: number, tokens: number }>`select
    (select count(*) from sessions s where not exists (select 1 from users u where u.id = s.user_id)) as sessions,
    (select count(*) from refresh_tokens r where not exists (select 1 from sessions s where s.id = r.session_id)) as tokens`.execute(db)
  t.same(orphans.rows, [{ sessions: 0, tokens: 0 }], 'no session without its user, no refresh token without its session')
  for (const p of pending) {
    const user = await db.selectFrom('users').select('id').where('phone', '=', p).executeTakeFirst()
    const code = await db.selectFrom('login_codes').select('phone').where('phone', '=', p).where('spent_at', 'is', null).executeTakeFirst()
    if (verified.get(p) === 200) {
      t.ok(user !== undefined && code === undefined, `${p} signed in: a user, the code spent`)
      const sessions = await db.selectFrom('sessions').innerJoin('refresh_tokens', 'refresh_tokens.session_id', 'sessions.id').select('sessions.id').where('user_id', '=', user?.id ?? -1).execute()
      t.equal(sessions.length, 1, `${p}: one session with its refresh token`)
    } else {
      t.ok(user === undefined && code !== undefined, `${p} failed: no user, the code not spent`)
    }
  }
  for (const p of failedRegisters) {
    const code = await db.selectFrom('login_codes').select('phone').where('phone', '=', p).executeTakeFirst()
    const counters = await db.selectFrom('limit_counters').select(['key', 'count']).where('key', 'like', `%${p}%`).where('count', '>', 0).execute()
    t.same({ code, counters }, { code: undefined, counters: [] }, `${p}: a failed register left no code and charged no quota`)
  }

  // Room again: the same requests work, without a restart.
  await setMaxPages(1_000_000)
  for (const p of failedVerifies) {
    t.equal((await post(app, '/api/users/verify_code/', { phone: p, auth_code: sms.lastCode(p) })).statusCode, 200, `verify ${p} with the code it had`)
  }
  for (const p of failedRegisters) {
    t.equal((await post(app, '/api/users/register/', { phone: p })).statusCode, 200, `register ${p}`)
  }
  t.equal((await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(invited.access), payload: { invite_code: person.user.invite_code } })).statusCode, 200, 'activate an invite')
})

t.test('PostgreSQL short of room or memory is unavailable (503), like a full SQLite file', async t => {
  // 53100 disk_full (a table that cannot grow), 53200 out_of_memory, 53300 too_many_connections,
  // 53400 configuration_limit_exceeded (temp_file_limit). A full WAL disk stops the server
  // itself: that is the server gone, 503 through the connection errors (test/postgres/own-server.test.ts).
  for (const code of ['53000', '53100', '53200', '53300', '53400', 'SQLITE_FULL']) {
    t.ok(isDatabaseUnavailable(Object.assign(new Error('could not extend file'), { code })), code)
  }
  t.notOk(isDatabaseUnavailable(Object.assign(new Error('value too long'), { code: '22001' })), 'a bug stays a 500')
})
