import t from 'tap'
import { createWebhookSender } from '../../src/sms/webhook-sender.js'
import { SmsDeliveryError } from '../../src/sms/sms-sender.js'
import { startSmsSink } from '../helpers/sms-sink.js'
import { buildTestApp, post } from '../helpers/app.js'
import { newWebhookSecret, startWebhookReceiver } from '../helpers/webhook-receiver.js'

const message = { to: '+79123456789', body: 'Your phonepass code: 1234.', code: '1234' }

t.test('posts {to, body} as JSON and resolves on 2xx', async t => {
  const sink = await startSmsSink()
  t.teardown(sink.close)
  await createWebhookSender(sink.url, 1000).send(message)
  t.same(sink.messages, [{ to: '+79123456789', body: 'Your phonepass code: 1234.' }], 'the code itself is not a separate field')
})

t.test('with SMS_WEBHOOK_SECRET each POST carries the Standard Webhooks headers, checked by the standardwebhooks package', async t => {
  const secret = newWebhookSecret()
  // The receiver stands in for an SMS gateway that checks the requests come from phonepass.
  const gateway = await startWebhookReceiver(secret)
  t.teardown(gateway.close)
  const sender = createWebhookSender(gateway.url, 1000, [newWebhookSecret(), secret])
  t.teardown(async () => { await sender.close?.() })
  await sender.send(message)
  await sender.send(message)
  t.same(gateway.rejected, [])
  t.equal(gateway.delivered().length, 2)
  t.same(gateway.received[0]?.body, { to: '+79123456789', body: 'Your phonepass code: 1234.' })
  t.match(gateway.received[0]?.id, /^msg_/)
  t.not(gateway.received[0]?.id, gateway.received[1]?.id, 'one webhook-id per message')
  const stranger = await startWebhookReceiver(newWebhookSecret())
  t.teardown(stranger.close)
  await t.rejects(createWebhookSender(stranger.url, 1000, [secret]).send(message), { name: 'SmsDeliveryError' }, 'a gateway with another secret refuses it (400)')
  t.equal(stranger.rejected.length, 1)
})

t.test('without a secret no signature headers are sent', async t => {
  const sink = await startSmsSink()
  t.teardown(sink.close)
  let headers: Record<string, unknown> = {}
  sink.behave((_m, response) => { headers = { ...response.req.headers }; response.writeHead(202).end() })
  await createWebhookSender(sink.url, 1000).send(message)
  t.equal(headers['webhook-signature'], undefined)
  t.equal(headers['content-type'], 'application/json')
})

t.test('a 500 is a delivery error', async t => {
  const sink = await startSmsSink()
  t.teardown(sink.close)
  sink.behave((_m, response) => { response.writeHead(500).end('boom') })
  await t.rejects(createWebhookSender(sink.url, 1000).send(message), new SmsDeliveryError('SMS webhook answered 500'))
})

t.test('no answer within the timeout is a delivery error', async t => {
  const sink = await startSmsSink()
  t.teardown(sink.close)
  sink.behave(() => { /* never answers */ })
  await t.rejects(createWebhookSender(sink.url, 200).send(message), { name: 'SmsDeliveryError', message: 'SMS webhook failed: no answer in 200 ms' })
})

t.test('a refused connection is a delivery error', async t => {
  const sink = await startSmsSink()
  const url = sink.url
  await sink.close()
  await t.rejects(createWebhookSender(url, 1000).send(message), { name: 'SmsDeliveryError' })
})

t.test('through the API: a hanging provider answers 503, not a hang or a 500', async t => {
  const { app, sms } = await buildTestApp(t, { SMS_TIMEOUT_MS: '200' })
  sms.behave(() => { /* never answers */ })
  const res = await post(app, '/api/users/register/', { phone: '+79123456789' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'sms_unavailable')
})
