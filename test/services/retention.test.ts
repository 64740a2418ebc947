import t from 'tap'
import { createRetention } from '../../src/services/retention.js'
import { newWebhookSecret } from '../helpers/webhook-receiver.js'
import { bearer, buildTestApp, signIn } from '../helpers/app.js'

// Retention (services/retention.ts) on the test's database (SQLite, or PostgreSQL in that pass):
// rows past their keeping go, in batches smaller than what is due; nothing live goes.

const day = 86_400_000

t.test('a sweep deletes what is past its keeping, in batches, and nothing live', async t => {
  const context = await buildTestApp(t, {
    RETENTION_SESSION_DAYS: '30',
    RETENTION_LOGIN_CODE_DAYS: '1',
    RETENTION_BATCH_SIZE: '10',
    // The outbox keeps events; nothing is delivered here (the dispatcher is off).
    WEBHOOK_URL: 'http://127.0.0.1:9/hooks',
    WEBHOOK_SECRET: newWebhookSecret(),
    WEBHOOK_RETENTION_DAYS: '7'
  }, { dispatchWebhooks: false })
  const { app, clock, config } = context
  const db = app.db
  // A person signed in now: a live session, a live refresh token, a spent code, live counters.
  const live = await signIn(context, '+79123450001') as unknown as { access: string, refresh: string }
  const now = clock.now()
  const old = now - 40 * day
  // 25 sessions that expired 40 days ago (more than two batches), 12 revoked 40 days ago, one
  // expired a day ago and one revoked a day ago (kept: younger than RETENTION_SESSION_DAYS), each
  // with a refresh token.
  const { id: userId } = await db.selectFrom('users').select('id').where('phone', '=', '+79123450001').executeTakeFirstOrThrow()
  const session = (id: string, expiresAt: number, revokedAt: number | null) => ({ id, user_id: userId, kind: 'api' as const, created_at: old - day, last_seen_at: old - day, expires_at: expiresAt, revoked_at: revokedAt, user_agent: null, ip: null })
  const sessions = [
    ...Array.from({ length: 25 }, (_, i) => session(`expired-${i}`, old, null)),
    ...Array.from({ length: 12 }, (_, i) => session(`revoked-${i}`, now + day, old)),
    session('expired-recently', now - day, null),
    session('revoked-recently', now + day, now - day)
  ]
  await db.insertInto('sessions').values(sessions).execute()
  await db.insertInto('refresh_tokens').values(sessions.map(s => ({ token_hash: `hash-${s.id}`, session_id: s.id, created_at: old - day, used_at: null }))).execute()
  // Login codes: expired 2 days ago (goes), an hour ago (kept), live (kept).
  await db.insertInto('login_codes').values([
    { phone: '+79123450002', code_hash: 'x', created_at: now - 2 * day - 300_000, expires_at: now - 2 * day, ip: null },
    { phone: '+79123450003', code_hash: 'x', created_at: now - 3_900_000, expires_at: now - 3_600_000, ip: null },
    { phone: '+79123450004', code_hash: 'x', created_at: now, expires_at: now + 300_000, ip: null }
  ]).execute()
  // Counters: 15 windows that ended, one that ends later.
  await db.insertInto('limit_counters').values([
    ...Array.from({ length: 15 }, (_, i) => ({ key: `code:phone:+7912345${i}:h`, window_start: now - 2 * 3_600_000, count: 1, expires_at: now - 3_600_000 })),
    { key: 'code:phone:+79123459999:h', window_start: now, count: 1, expires_at: now + 3_600_000 }
  ]).execute()
  // Deleted phones: forgettable and old (goes), old but had activated a code (kept for good), recent (kept).
  const tokenDays = config.deviceTokenTtlDays
  await db.insertInto('deleted_phones').values([
    { phone_hash: 'old', deleted_at: now - (tokenDays + 1) * day, had_activated: 0 },
    { phone_hash: 'activated', deleted_at: now - (tokenDays + 1) * day, had_activated: 1 },
    { phone_hash: 'recent', deleted_at: now - day, had_activated: 0 }
  ]).execute()
  // Outbox: delivered 8 days ago (goes), delivered yesterday and pending from long ago (kept).
  const event = (msgId: string, status: 'delivered' | 'pending', finishedAt: number | null) => ({ msg_id: msgId, type: 'user.signed_in', user_id: userId, payload: '{}', status, next_attempt_at: old, created_at: old, finished_at: finishedAt })
  await db.insertInto('webhook_events').values([event('msg_old', 'delivered', now - 8 * day), event('msg_new', 'delivered', now - day), event('msg_pending', 'pending', null)]).execute()
  const liveCounters = await db.selectFrom('limit_counters').select(['key', 'window_start']).where('expires_at', '>', now).execute()

  // Messages (issue 25): one from 31 days ago (goes), one from yesterday (kept).
  const message = (id: string, at: number) => ({ id, send_id: 's', channel: 'sms', provider: 'webhook', provider_id: null, country: 'RU', status: 'sent', created_at: at, updated_at: at, delivered_at: null })
  await db.insertInto('messages').values([message('message-old', now - 31 * day), message('message-new', now - day)]).execute()

  // Two instances sweep at once.
  const [first, second] = await Promise.all([createRetention({ db, config, clock }).sweep(), createRetention({ db, config, clock }).sweep()])
  const total = (field: keyof typeof first) => first[field] + second[field]
  t.equal(total('sessions'), 37, 'the sessions that ended over 30 days ago, in batches of 10')
  t.equal(total('loginCodes'), 1, 'the code that expired over a day ago')
  t.equal(total('limitCounters'), 15, 'the ended windows')
  t.equal(total('deletedPhones'), 1, 'the forgettable deleted phone')
  t.equal(total('deliveredEvents'), 1, 'the event delivered over 7 days ago')
  t.equal(total('messages'), 1, 'the message sent over 30 days ago')
  t.same((await db.selectFrom('messages').select('id').where('id', 'like', 'message-%').execute()).map(row => row.id), ['message-new'])

  const kept = await db.selectFrom('sessions').select('id').orderBy('id').execute()
  t.same(kept.map(row => row.id).filter(id => !/^[a-f0-9]{32}$/i.test(id) && id.length < 32), ['expired-recently', 'revoked-recently'])
  t.equal(kept.length, 3, 'and the live session')
  t.same((await db.selectFrom('refresh_tokens').select('token_hash').execute()).map(row => row.token_hash).filter(hash => hash.startsWith('hash-')).sort(),
    ['hash-expired-recently', 'hash-revoked-recently'], 'refresh tokens went with their sessions')
  t.same((await db.selectFrom('login_codes').select('phone').orderBy('phone').execute()).map(row => row.phone), ['+79123450001', '+79123450003', '+79123450004'])
  t.same(await db.selectFrom('limit_counters').select(['key', 'window_start']).where('expires_at', '>', now).execute(), liveCounters, 'every live counter stays')
  t.same((await db.selectFrom('deleted_phones').select('phone_hash').orderBy('phone_hash').execute()).map(row => row.phone_hash), ['activated', 'recent'])
  t.same((await db.selectFrom('webhook_events').select('msg_id').where('msg_id', 'in', ['msg_old', 'msg_new', 'msg_pending']).orderBy('msg_id').execute()).map(row => row.msg_id), ['msg_new', 'msg_pending'])

  // The person is still signed in, and the refresh token still turns.
  t.equal((await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(live.access) })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh: live.refresh } })).statusCode, 200)
  t.same(await createRetention({ db, config, clock }).sweep(), { sessions: 0, loginCodes: 0, limitCounters: 0, deletedPhones: 0, deliveredEvents: 0, passkeyChallenges: 0, messages: 0 }, 'a second sweep finds nothing')
})
