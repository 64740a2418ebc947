import t from 'tap'
import { adminQuery, createSchema, postgresOnly, schemaUrl } from '../helpers/database.js'
import { request, startInstance, type Instance } from '../helpers/instance.js'
import { startSmsSink } from '../helpers/sms-sink.js'
import { newWebhookSecret, startWebhookReceiver } from '../helpers/webhook-receiver.js'

// Two phonepass processes on one PostgreSQL share the outbox: every event is delivered, and
// the claim's lease (FOR UPDATE SKIP LOCKED) keeps one event from being sent by both at once.
const runs = postgresOnly()

t.setTimeout(300_000)

t.test('two instances, 500 sign-ups: every user.created delivered, none twice at once, both instances send', async t => {
  if (!runs) return
  const { schema, drop } = await createSchema()
  const sms = await startSmsSink()
  const secret = newWebhookSecret()
  const receiver = await startWebhookReceiver(secret)
  // Each answer takes a moment, so the instances' rounds overlap while attempts are in flight.
  receiver.answer(async () => { await new Promise(resolve => setTimeout(resolve, Math.floor(Math.random() * 20))); return 204 })
  let instances: Instance[] = []
  t.teardown(async () => {
    await Promise.all(instances.map(async instance => await instance.stop()))
    await receiver.close()
    await sms.close()
    await drop()
  })
  instances = await Promise.all([0, 1].map(async () => await startInstance(t, {
    DATABASE_URL: schemaUrl(schema),
    DATABASE_POOL_SIZE: '5',
    SMS_PROVIDER: 'webhook',
    SMS_WEBHOOK_URL: sms.url,
    LIMIT_CODES_PER_IP_HOUR: '10000',
    LIMIT_WRONG_CODES_PER_IP_HOUR: '10000',
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: secret
  })))
  const signUps = 500
  const phones = Array.from({ length: signUps }, (_, n) => `+7912${String(5000000 + n)}`)
  let next = 0
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (next < phones.length) {
      const n = next++
      const phone = phones[n]!
      const registered = await request(`${instances[n % 2]!.url}/api/users/register/`, 'POST', { phone })
      if (registered.status !== 200) throw new Error(`register: ${registered.status}`)
      const verified = await request(`${instances[(n + 1) % 2]!.url}/api/users/verify_code/`, 'POST', { phone, auth_code: sms.lastCode(phone) })
      if (verified.status !== 200) throw new Error(`verify: ${verified.status}`)
    }
  }))
  await receiver.waitFor(() => receiver.delivered().length >= signUps, 'every event', 120_000)
  // A moment for a second delivery, were there one.
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.equal(receiver.received.length, signUps, 'each sent once')
  t.equal(new Set(receiver.received.map(event => event.id)).size, signUps, 'one webhook-id per event')
  t.same(new Set(receiver.received.map(event => event.body.data.phone)), new Set(phones), 'one user.created per sign-up')
  t.equal(receiver.overlaps, 0, 'no event in flight twice at once')
  t.same(receiver.rejected, [])
  const { rows } = await adminQuery(`select status, count(*)::int as n from ${schema}.webhook_events group by status`)
  t.same(rows, [{ status: 'delivered', n: signUps }])
  for (const [i, instance] of instances.entries()) {
    const sent = instance.logs.filter(line => line.msg === 'webhook delivered').length
    t.ok(sent > 0, `instance ${i} delivered ${sent}`)
  }
})
