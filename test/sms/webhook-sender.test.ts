import t from 'tap'
import { createWebhookSender } from '../../src/sms/webhook-sender.js'
import { SmsDeliveryError } from '../../src/sms/sms-sender.js'
import { startSmsSink } from '../helpers/sms-sink.js'
import { buildTestApp, post } from '../helpers/app.js'

const message = { to: '+79123456789', body: 'Your phonepass code: 1234.', code: '1234' }

t.test('posts {to, body} as JSON and resolves on 2xx', async t => {
  const sink = await startSmsSink()
  t.teardown(sink.close)
  await createWebhookSender(sink.url, 1000).send(message)
  t.same(sink.messages, [{ to: '+79123456789', body: 'Your phonepass code: 1234.' }], 'the code itself is not a separate field')
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
