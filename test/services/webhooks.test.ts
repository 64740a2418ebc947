import t from 'tap'
import { createRetention } from '../../src/services/retention.js'
import pino from 'pino'
import { AggregatorRegistry } from 'prom-client'
import { sql } from 'kysely'
import type { AppDeps } from '../../src/app.js'
import { createOperatorService } from '../../src/services/operator-service.js'
import { createEventRecorder, maxAttempts, retryDelaysMs, type WebhookDispatcher } from '../../src/services/webhooks.js'
import { bearer, buildTestApp, manualClock, signIn, type ManualClock, type TestContext } from '../helpers/app.js'
import { newWebhookSecret, startWebhookReceiver, type Answer, type WebhookReceiver } from '../helpers/webhook-receiver.js'
import { WebClient } from '../web/web-client.js'

// Events written in the transaction of the change they report (the outbox) and sent by the
// dispatcher, driven here round by round on the test's clock. Every request the receiver gets
// is checked with the standardwebhooks package.

interface Setup extends TestContext {
  receiver: WebhookReceiver
  dispatcher: WebhookDispatcher
  /** The clock the app runs on. */
  time: ManualClock
  secret: string
}

interface Tap {
  teardown: (fn: () => unknown) => void
}

/**
 * An app whose WEBHOOK_URL is a local receiver; the dispatcher's timer is off, the test calls
 * deliverDue(). `today`: the app's clock starts now, so the receiver checks the timestamp too
 * (standardwebhooks refuses one more than 5 minutes away).
 */
async function setup (t: Tap, env: Record<string, string> = {}, options: { today?: boolean, deps?: AppDeps } = {}): Promise<Setup> {
  const secret = newWebhookSecret()
  const receiver = await startWebhookReceiver(secret, { checkTimestamp: options.today === true })
  t.teardown(async () => { await receiver.close() })
  const time = manualClock(options.today === true ? Date.now() : undefined)
  const context = await buildTestApp(t, {
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: secret,
    WEBHOOK_TIMEOUT_MS: '5000',
    LIMIT_CODES_PER_IP_HOUR: '10000',
    LIMIT_WRONG_CODES_PER_IP_HOUR: '10000',
    ...env
  }, { clock: time, dispatchWebhooks: false, ...options.deps })
  const dispatcher = context.app.webhooks
  if (dispatcher === undefined) throw new Error('no dispatcher although WEBHOOK_URL is set')
  return { ...context, clock: time, time, receiver, dispatcher, secret }
}

/** Rounds until none is due: a user's next event goes only in the round after the earlier one. */
async function drain (dispatcher: WebhookDispatcher): Promise<{ claimed: number, delivered: number, retried: number, failed: number }> {
  const sum = { claimed: 0, delivered: 0, retried: 0, failed: 0 }
  for (;;) {
    const report = await dispatcher.deliverDue()
    if (report.claimed === 0) return sum
    for (const key of Object.keys(sum) as Array<keyof typeof sum>) sum[key] += report[key]
  }
}

async function eventRows (context: TestContext) {
  return await context.app.db.selectFrom('webhook_events').selectAll().orderBy('id').execute()
}

t.test('sign-up and activation through the API: each event once, signed, in the documented shape', async t => {
  const context = await setup(t, {}, { today: true })
  const { receiver, dispatcher } = context
  const alice = await signIn(context, '+79123450101')
  t.same(receiver.received, [], 'nothing is sent inside the request')
  t.same(await dispatcher.deliverDue(), { claimed: 1, delivered: 1, retried: 0, failed: 0 })
  const created = receiver.delivered()
  t.equal(created.length, 1)
  t.match(created[0], { type: 'user.created', id: /^msg_[A-Za-z0-9_-]{22}$/ })
  t.same(created[0]?.body, {
    type: 'user.created',
    timestamp: new Date(context.time.now()).toISOString(),
    data: { id: alice.user.id, phone: '+79123450101', invite_code: alice.user.invite_code }
  })

  context.clock.advance(60_000) // the next code to the same phone waits out the spacing
  await signIn(context, '+79123450101')
  t.same(await dispatcher.deliverDue(), { claimed: 0, delivered: 0, retried: 0, failed: 0 }, 'a second sign-in creates nothing; user.signed_in is off by default')

  const bob = await signIn(context, '+79123450102')
  const patched = await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(bob.access), payload: { invite_code: alice.user.invite_code } })
  t.equal(patched.statusCode, 200)
  const refused = await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(bob.access), payload: { invite_code: alice.user.invite_code } })
  t.equal(refused.statusCode, 409, 'a refused activation writes no event')
  t.same(await drain(dispatcher), { claimed: 2, delivered: 2, retried: 0, failed: 0 })
  t.same(receiver.delivered().map(event => event.body), [
    created[0]?.body,
    { type: 'user.created', timestamp: new Date(context.time.now()).toISOString(), data: { id: bob.user.id, phone: '+79123450102', invite_code: bob.user.invite_code } },
    { type: 'invite.activated', timestamp: new Date(context.time.now()).toISOString(), data: { id: bob.user.id, phone: '+79123450102', activated_invite_code: alice.user.invite_code, inviter_id: alice.user.id } }
  ])
  t.equal(new Set(receiver.received.map(event => event.id)).size, 3, 'one webhook-id per event')
  t.same(receiver.rejected, [], 'every signature verified')
  t.same((await eventRows(context)).map(row => row.status), ['delivered', 'delivered', 'delivered'])
})

t.test('user.signed_in is sent when WEBHOOK_EVENTS lists it, after user.created', async t => {
  const context = await setup(t, { WEBHOOK_EVENTS: 'user.created, user.signed_in' }, { today: true })
  const alice = await signIn(context, '+79123450111')
  context.clock.advance(60_000) // the next code to the same phone waits out the spacing
  await signIn(context, '+79123450111')
  t.same(await drain(context.dispatcher), { claimed: 3, delivered: 3, retried: 0, failed: 0 })
  t.same(context.receiver.delivered().map(event => [event.type, event.body.data]), [
    ['user.created', { id: alice.user.id, phone: '+79123450111', invite_code: alice.user.invite_code }],
    ['user.signed_in', { id: alice.user.id, phone: '+79123450111', kind: 'api', method: 'phone' }],
    ['user.signed_in', { id: alice.user.id, phone: '+79123450111', kind: 'api', method: 'phone' }]
  ])
  t.same(context.receiver.rejected, [])
})

t.test('WEBHOOK_EVENTS without a type: that type is not recorded', async t => {
  const context = await setup(t, { WEBHOOK_EVENTS: 'invite.activated' })
  await signIn(context, '+79123450121')
  t.same(await eventRows(context), [])
})

t.test('without WEBHOOK_URL nothing is recorded and there is no dispatcher', async t => {
  const context = await buildTestApp(t)
  await signIn(context, '+79123450131')
  t.equal(context.app.webhooks, undefined)
  t.same(await context.app.db.selectFrom('webhook_events').selectAll().execute(), [])
})

t.test('sign-up and activation through the pages send the same events', async t => {
  const context = await setup(t, { WEBHOOK_EVENTS: 'user.created,user.signed_in,invite.activated' }, { today: true })
  const inviter = new WebClient(context.app)
  t.equal((await inviter.signIn(context, '+79123450141')).headers.location, '/profile')
  const code = await inviter.ownInviteCode()
  const person = new WebClient(context.app)
  await person.signIn(context, '+79123450142')
  t.equal((await person.submit('/profile', '/profile/invite', { invite_code: code })).statusCode, 303)
  await drain(context.dispatcher)
  const users = await context.app.db.selectFrom('users').select(['id', 'phone', 'invite_code']).orderBy('id').execute()
  const [a, b] = users
  const of = (id: number | undefined) => context.receiver.delivered().filter(event => event.body.data.id === id).map(event => [event.type, event.body.data])
  t.same(of(a?.id), [
    ['user.created', { id: a?.id, phone: a?.phone, invite_code: a?.invite_code }],
    ['user.signed_in', { id: a?.id, phone: a?.phone, kind: 'web', method: 'phone' }]
  ])
  t.same(of(b?.id), [
    ['user.created', { id: b?.id, phone: b?.phone, invite_code: b?.invite_code }],
    ['user.signed_in', { id: b?.id, phone: b?.phone, kind: 'web', method: 'phone' }],
    ['invite.activated', { id: b?.id, phone: b?.phone, activated_invite_code: code, inviter_id: a?.id }]
  ])
  t.equal(context.receiver.received.length, 5, 'each once')
  t.same(context.receiver.rejected, [])
})

t.test('500, then a hang past the timeout, then 2xx: delivered on the schedule with one webhook-id; sign-ins answer meanwhile', async t => {
  const context = await setup(t, { WEBHOOK_TIMEOUT_MS: '3000' })
  const { receiver, dispatcher, time } = context
  const answers: Answer[] = [500, 'hang', 200]
  receiver.answer(() => answers.shift() ?? 200)
  const phone = '+15550100001'
  const signUp = async (): Promise<void> => {
    t.equal((await context.app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone } })).statusCode, 200)
    t.equal((await context.app.inject({ method: 'POST', url: '/api/users/verify_code/', payload: { phone, auth_code: '1234' } })).statusCode, 200)
  }
  await signUp()
  const start = time.now()

  t.same(await dispatcher.deliverDue(), { claimed: 1, delivered: 0, retried: 1, failed: 0 }, 'attempt 1 at once: 500')
  time.advance(retryDelaysMs[0]! - 1)
  t.equal((await dispatcher.deliverDue()).claimed, 0, 'not before 5 s')
  time.advance(1)
  const hanging = dispatcher.deliverDue()
  await receiver.waitFor(() => receiver.open() === 1, 'attempt 2 to arrive')
  await signUp()
  t.equal(receiver.open(), 1, 'a sign-in answered while the receiver was still hanging')
  t.same(await hanging, { claimed: 1, delivered: 0, retried: 1, failed: 0 }, 'attempt 2 gave up at the timeout')
  await receiver.waitFor(() => receiver.open() === 0, 'the hanging request to be given up')
  time.advance(retryDelaysMs[1]! - 1)
  t.equal((await dispatcher.deliverDue()).claimed, 0, 'not before 5 min more')
  time.advance(1)
  t.same(await dispatcher.deliverDue(), { claimed: 1, delivered: 1, retried: 0, failed: 0 }, 'attempt 3 delivered')

  t.same(receiver.received.map(event => event.answer), [500, 'hang', 200])
  t.equal(new Set(receiver.received.map(event => event.id)).size, 1, 'the same webhook-id on every attempt')
  const seconds = Math.floor(start / 1000)
  t.same(receiver.received.map(event => event.timestamp), [seconds, seconds + 5, seconds + 5 + 300], 'attempts at 0, 5 s, 5 min 5 s')
  t.same(receiver.rejected, [])
  const [row] = await eventRows(context)
  t.match(row, { status: 'delivered', attempts: 3, last_status: 200, last_error: null })
  t.equal(context.receiver.delivered().length, 1)
})

t.test('a receiver that never takes it: eight attempts on the schedule, then failed; the operator re-sends it', async t => {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const context = await setup(t, {}, { deps: { logger } })
  const { receiver, dispatcher, time } = context
  receiver.answer(503)
  await signIn(context, '+79123450151')
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const report = await dispatcher.deliverDue()
    t.same(report, { claimed: 1, delivered: 0, retried: attempt < maxAttempts ? 1 : 0, failed: attempt < maxAttempts ? 0 : 1 }, `attempt ${attempt}`)
    const delay = retryDelaysMs[attempt - 1]
    if (delay === undefined) break
    time.advance(delay - 1)
    t.equal((await dispatcher.deliverDue()).claimed, 0, `attempt ${attempt + 1} not early`)
    time.advance(1)
  }
  time.advance(100 * 3_600_000)
  t.equal((await dispatcher.deliverDue()).claimed, 0, 'no ninth attempt')
  const [row] = await eventRows(context)
  t.match(row, { status: 'failed', attempts: 8, last_status: 503, last_error: 'answered 503' })
  t.equal(receiver.received.length, 8)
  t.equal(new Set(receiver.received.map(event => event.id)).size, 1)
  const metrics = (await context.app.inject({ url: '/metrics' })).body
  t.match(metrics, 'phonepass_webhook_deliveries_total{result="retried"} 7')
  t.match(metrics, 'phonepass_webhook_deliveries_total{result="failed"} 1')
  t.match(metrics, 'phonepass_webhook_events{status="failed"} 1')
  t.match(metrics, 'phonepass_webhook_events{status="pending"} 0')
  const failedLine = lines.find(line => line.msg === 'webhook failed after the last retry')
  t.match(failedLine, { level: 50, type: 'user.created', attempt: 8, status: 503 })
  t.notOk(lines.some(line => JSON.stringify(line).includes('+79123450151')), 'no phone in the log')

  const operator = createOperatorService({ db: context.app.db, config: context.config, clock: time })
  t.match(await operator.listWebhookEvents(), [{ msg_id: row?.msg_id, status: 'failed', attempts: 8 }])
  t.same(await operator.listWebhookEvents(['pending']), [])
  await t.rejects(operator.resendWebhookEvents('msg_unknown'), { code: 'not_found' })
  t.same(await operator.resendWebhookEvents(), { resent: 1 })
  t.match(await operator.listWebhookEvents(), [{ msg_id: row?.msg_id, status: 'pending', attempts: 0 }])
  receiver.answer(204)
  t.same(await dispatcher.deliverDue(), { claimed: 1, delivered: 1, retried: 0, failed: 0 }, 're-sent at once')
  t.equal(receiver.received.at(-1)?.id, row?.msg_id, 'with the same webhook-id')
  t.same(await operator.listWebhookEvents(), [])
})

t.test('order per user: a user\'s later event waits while an earlier one is pending; other users go on', async t => {
  const context = await setup(t, { OTP_RESEND_SECONDS: '0' })
  const { receiver, dispatcher, time } = context
  const alice = await signIn(context, '+79123450161')
  const bob = await signIn(context, '+79123450162')
  const activated = await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(alice.access), payload: { invite_code: bob.user.invite_code } })
  t.equal(activated.statusCode, 200)
  let failedOnce = false
  receiver.answer(event => {
    if (event.type === 'user.created' && event.body.data.id === alice.user.id && !failedOnce) {
      failedOnce = true
      return 500
    }
    return 204
  })
  t.same(await dispatcher.deliverDue(), { claimed: 2, delivered: 1, retried: 1, failed: 0 }, 'alice\'s created fails, bob\'s goes; alice\'s activation waits')
  t.same(await dispatcher.deliverDue(), { claimed: 0, delivered: 0, retried: 0, failed: 0 }, 'alice\'s activation waits for her retry')
  time.advance(retryDelaysMs[0]!)
  t.same(await dispatcher.deliverDue(), { claimed: 1, delivered: 1, retried: 0, failed: 0 }, 'the retry alone')
  t.same(await dispatcher.deliverDue(), { claimed: 1, delivered: 1, retried: 0, failed: 0 }, 'then the activation')
  t.same(receiver.received.filter(event => event.body.data.id === alice.user.id).map(event => [event.type, event.answer]), [
    ['user.created', 500], ['user.created', 204], ['invite.activated', 204]
  ])
})

t.test('many dispatch rounds at once: every event delivered once, none twice at the same time, each user in order', async t => {
  const context = await setup(t)
  const { receiver, dispatcher } = context
  // Each request is held a moment, so rounds overlap while attempts are in flight.
  receiver.answer(async () => { await new Promise(resolve => setTimeout(resolve, Math.floor(Math.random() * 10))); return 204 })
  const recorder = createEventRecorder({ config: context.config, clock: context.time })
  const events = 200
  for (let i = 0; i < events; i++) {
    // 50 users, 4 events each, interleaved.
    const user = i % 50
    await context.app.db.transaction().execute(async trx => {
      await recorder.record(trx, 'user.blocked', { id: user + 1, phone: `+7912345${String(user).padStart(4, '0')}` })
    })
  }
  const ids = (await eventRows(context)).map(row => row.msg_id)
  let rounds = 0
  while (receiver.delivered().length < events && rounds < 200) {
    rounds++
    await Promise.all(Array.from({ length: 16 }, async () => await dispatcher.deliverDue(8)))
  }
  t.equal(receiver.delivered().length, events, 'all delivered')
  t.equal(receiver.received.length, events, 'none sent twice')
  t.equal(receiver.overlaps, 0, 'none in flight twice at once')
  t.same(new Set(receiver.received.map(event => event.id)), new Set(ids))
  for (let user = 1; user <= 50; user++) {
    const order = receiver.received.filter(event => event.body.data.id === user).map(event => ids.indexOf(event.id))
    t.same(order, [...order].sort((x, y) => x - y), `user ${user}'s events in order`)
  }
  t.same((await eventRows(context)).filter(row => row.status !== 'delivered'), [])
})

t.test('a claim whose lease ran out is taken again; the late outcome of the first neither counts nor frees the new lease', async t => {
  const context = await setup(t, { WEBHOOK_TIMEOUT_MS: '2000' })
  const { receiver, dispatcher, time } = context
  let release = (): void => {}
  receiver.answer(async () => {
    const n = receiver.received.length
    if (n === 1) {
      // While the first attempt is in flight its lease runs out (as if its instance had died)
      // and another round takes the event; the first one's 500 comes after that.
      time.advance(10 * 60_000)
      await receiver.waitFor(() => receiver.received.length === 2, 'the second attempt')
      return 500
    }
    if (n === 2) {
      await new Promise<void>(resolve => { release = resolve })
      return 204
    }
    return 204
  })
  await signIn(context, '+79123450171')
  const firstRound = dispatcher.deliverDue()
  await receiver.waitFor(() => receiver.received.length === 1, 'the first attempt')
  const secondRound = dispatcher.deliverDue()
  t.same(await firstRound, { claimed: 1, delivered: 0, retried: 0, failed: 0 }, 'the first attempt\'s 500 came too late to count')
  time.advance(retryDelaysMs[0]!)
  t.equal((await dispatcher.deliverDue()).claimed, 0, 'the second attempt still holds its lease: no third send beside it')
  release()
  t.same(await secondRound, { claimed: 1, delivered: 1, retried: 0, failed: 0 })
  t.equal(receiver.overlaps, 1, 'only the overlap of the attempt whose lease ran out')
  t.equal(receiver.received.length, 2)
  const [row] = await eventRows(context)
  t.match(row, { status: 'delivered', attempts: 2, last_status: 204 })
})

t.test('closing the app cuts an attempt to a hanging receiver short; it is recorded and retried', async t => {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const context = await setup(t, { WEBHOOK_TIMEOUT_MS: '60000' }, { deps: { logger } })
  context.receiver.answer('hang')
  await signIn(context, '+79123450175')
  const round = context.dispatcher.deliverDue()
  await context.receiver.waitFor(() => context.receiver.open() === 1, 'the attempt')
  await context.app.close()
  t.same(await round, { claimed: 1, delivered: 0, retried: 1, failed: 0 })
  t.match(lines.find(line => line.msg === 'webhook not delivered; will retry'), { error: 'the instance was shutting down', attempt: 1 })
})

t.test('delivered events are pruned after WEBHOOK_RETENTION_DAYS; pending and failed ones are kept', async t => {
  const context = await setup(t, { WEBHOOK_RETENTION_DAYS: '2' })
  const { receiver, dispatcher, time } = context
  await signIn(context, '+79123450181')
  await dispatcher.deliverDue()
  receiver.answer(500)
  await signIn(context, '+79123450182')
  await dispatcher.deliverDue()
  const retention = createRetention({ db: context.app.db, config: context.config, clock: time })
  time.advance(2 * 86_400_000 - 1)
  t.equal((await retention.sweep()).deliveredEvents, 0, 'not before the retention')
  time.advance(2)
  t.equal((await retention.sweep()).deliveredEvents, 1)
  t.same((await eventRows(context)).map(row => row.status), ['pending'])
})

t.test('the backlog: a metric of its age and one alert line when it is older than the threshold', async t => {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const context = await setup(t, { WEBHOOK_BACKLOG_ALERT_SECONDS: '600' }, { deps: { logger } })
  const { receiver, dispatcher, time } = context
  t.match((await context.app.inject({ url: '/metrics' })).body, 'phonepass_webhook_oldest_pending_seconds 0')
  receiver.answer(500)
  await signIn(context, '+79123450191')
  await dispatcher.deliverDue()
  time.advance(599_000)
  t.equal(await dispatcher.checkBacklog(), false)
  t.match((await context.app.inject({ url: '/metrics' })).body, 'phonepass_webhook_oldest_pending_seconds 599')
  time.advance(1000)
  t.equal(await dispatcher.checkBacklog(), true)
  t.equal(await dispatcher.checkBacklog(), false, 'not again at once')
  const alerts = lines.filter(line => line.alert === 'webhook_backlog')
  t.equal(alerts.length, 1)
  t.match(alerts[0], { level: 50, pending: 1, oldestPendingSeconds: 600, thresholdSeconds: 600 })
  t.match((await context.app.inject({ url: '/metrics' })).body, 'phonepass_webhook_events{status="pending"} 1')
  // Two cluster workers read the same outbox: their sum (ops/cluster.ts) counts each event once,
  // and each worker's own counts add up.
  const worker = async () => await context.app.metrics.registry.getMetricsAsJSON()
  const summed = await AggregatorRegistry.aggregate([await worker(), await worker()]).metrics()
  t.match(summed, 'phonepass_webhook_events{status="pending"} 1')
  t.match(summed, 'phonepass_webhook_oldest_pending_seconds 600')
  t.match(summed, 'phonepass_sign_ins_total{kind="api",created="true",method="phone"} 2')
  // The outbox unreadable (here: gone): the scrape still answers, the gauges keep their values.
  await sql`drop table webhook_events`.execute(context.app.db)
  const scrape = await context.app.inject({ url: '/metrics' })
  t.equal(scrape.statusCode, 200)
  t.match(scrape.body, 'phonepass_webhook_events{status="pending"} 1')
  t.match(scrape.body, 'phonepass_sign_ins_total')
})

t.test('a list of secrets signs with each: a receiver knowing only one of them accepts', async t => {
  const [oldSecret, newSecret] = [newWebhookSecret(), newWebhookSecret()]
  for (const [n, known] of [oldSecret, newSecret].entries()) {
    const receiver = await startWebhookReceiver(known)
    t.teardown(async () => { await receiver.close() })
    const context = await buildTestApp(t, { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: `${oldSecret},${newSecret}` }, { clock: manualClock(Date.now()), dispatchWebhooks: false })
    await signIn(context, `+7912345020${n}`)
    await context.app.webhooks?.deliverDue()
    t.equal(receiver.delivered().length, 1, `a receiver with secret ${n + 1} of 2`)
    t.match(receiver.received[0]?.signature, /^v1,[A-Za-z0-9+/=]+ v1,[A-Za-z0-9+/=]+$/, 'two signatures')
    t.same(receiver.rejected, [])
  }
})

t.test('the event is in the transaction of the sign-in: a sign-in that fails leaves no event', async t => {
  const context = await setup(t)
  // The sign-in's last write (the app's refresh token, after the events) fails, so the whole
  // transaction rolls back: the events with it.
  await sql`drop table refresh_tokens`.execute(context.app.db)
  const registered = await context.app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123450211' } })
  t.equal(registered.statusCode, 200)
  const verified = await context.app.inject({ method: 'POST', url: '/api/users/verify_code/', payload: { phone: '+79123450211', auth_code: context.sms.lastCode('+79123450211') } })
  t.equal(verified.statusCode, 500)
  t.same(await eventRows(context), [], 'no event for a sign-in that did not commit')
  t.same(await context.app.db.selectFrom('users').selectAll().execute(), [])
})
