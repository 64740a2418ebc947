import t from 'tap'
import { openTestDatabase } from '../helpers/database.js'
import { request, startInstance } from '../helpers/instance.js'
import { newWebhookSecret, startWebhookReceiver } from '../helpers/webhook-receiver.js'

// kill -9 between a sign-up's commit and the delivery of its event: the event is in the
// database (the outbox), so the next start sends it. The real service, as its own process.

t.setTimeout(240_000)

t.test('kill -9 while the event is on its way: after a restart it arrives, with the same webhook-id', async t => {
  const database = await openTestDatabase({ shared: true })
  const secret = newWebhookSecret()
  const receiver = await startWebhookReceiver(secret)
  t.teardown(async () => { await receiver.close(); await database.drop() })
  // The receiver takes the request and does not answer: the sign-up has committed, the send
  // is in flight, nothing is delivered yet.
  receiver.answer('hang')
  const env = {
    DATABASE_URL: database.url,
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: secret,
    WEBHOOK_TIMEOUT_MS: '2000',
    TEST_PHONE_NUMBERS: '+15550100001=1234'
  }
  const first = await startInstance(t, env)
  t.equal((await request(`${first.url}/api/users/register/`, 'POST', { phone: '+15550100001' })).status, 200)
  const signedUp = await request(`${first.url}/api/users/verify_code/`, 'POST', { phone: '+15550100001', auth_code: '1234' })
  t.equal(signedUp.status, 200)
  await receiver.waitFor(() => receiver.received.length === 1, 'the first attempt')
  const exited = new Promise(resolve => first.process.once('exit', (_code, signal) => resolve(signal)))
  first.process.kill('SIGKILL')
  t.equal(await exited, 'SIGKILL')
  t.equal(receiver.delivered().length, 0, 'nothing was delivered before the crash')

  receiver.answer(204)
  await startInstance(t, env)
  await receiver.waitFor(() => receiver.delivered().length === 1, 'the event after the restart', 60_000)
  const [attempt, delivered] = receiver.received
  t.equal(delivered?.id, attempt?.id, 'the same webhook-id as the attempt cut off by the crash')
  t.same(delivered?.body.data, { id: (signedUp.body.user as { id: number }).id, phone: '+15550100001', invite_code: (signedUp.body.user as { invite_code: string }).invite_code })
  t.equal(delivered?.type, 'user.created')
  t.same(receiver.rejected, [])
})
