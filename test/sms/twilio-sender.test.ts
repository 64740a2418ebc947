import t from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { loadConfig, type TwilioConfig } from '../../src/config.js'
import { SmsDeliveryError } from '../../src/sms/sms-sender.js'
import { createTwilioSender } from '../../src/sms/twilio-sender.js'
import { buildTestApp, post } from '../helpers/app.js'

const accountSid = 'AC' + '0123456789abcdef'.repeat(2)
const authToken = 'twilio-auth-token-0123456789'
const expectedAuthorization = 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64')

interface Received {
  path: string
  authorization: string | undefined
  contentType: string | undefined
  form: Record<string, string>
}

type Answer = (response: ServerResponse) => void

/** A real HTTP server standing in for api.twilio.com; answers with the next behaviour queued. */
async function startTwilio (t: { teardown: (fn: () => unknown) => void }) {
  const received: Received[] = []
  const answers: Answer[] = []
  const created: Answer = response => {
    response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ sid: 'SM' + 'a'.repeat(32), status: 'queued' }))
  }
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let raw = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => { raw += chunk })
    request.on('end', () => {
      received.push({
        path: request.url ?? '',
        authorization: request.headers.authorization,
        contentType: request.headers['content-type'],
        form: Object.fromEntries(new URLSearchParams(raw))
      })
      const wrongAuth = request.headers.authorization !== expectedAuthorization
      if (wrongAuth) {
        response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 20003, message: 'Authenticate', status: 401 }))
        return
      }
      ;(answers.shift() ?? created)(response)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  })
  const { port } = server.address() as AddressInfo
  return { baseUrl: `http://127.0.0.1:${port}`, received, answers }
}


function sender (baseUrl: string, overrides: Partial<TwilioConfig> = {}, timeoutMs = 5000) {
  const config: TwilioConfig = { accountSid, authToken, from: '+15005550006', messagingServiceSid: undefined, baseUrl, ...overrides }
  return createTwilioSender(config, timeoutMs, pino({ level: 'silent' }))
}

const message = { to: '+79123456789', body: 'Your phonepass code: 1234.', code: '1234' }

t.test('201: the Messages API is called with Basic auth and the form fields', async t => {
  const twilio = await startTwilio(t)
  await sender(twilio.baseUrl).send(message)
  t.equal(twilio.received.length, 1)
  const [request] = twilio.received
  t.equal(request?.path, `/2010-04-01/Accounts/${accountSid}/Messages.json`)
  t.equal(request?.authorization, expectedAuthorization)
  t.match(request?.contentType, /^application\/x-www-form-urlencoded/)
  t.same(request?.form, { To: '+79123456789', Body: 'Your phonepass code: 1234.', From: '+15005550006' })
})

t.test('a messaging service is sent instead of From', async t => {
  const twilio = await startTwilio(t)
  await sender(twilio.baseUrl, { from: undefined, messagingServiceSid: 'MG' + 'f'.repeat(32) }).send(message)
  t.same(twilio.received[0]?.form, { To: '+79123456789', Body: 'Your phonepass code: 1234.', MessagingServiceSid: 'MG' + 'f'.repeat(32) })
})

t.test('a wrong auth token is refused by the server and is a delivery error', async t => {
  const twilio = await startTwilio(t)
  await t.rejects(sender(twilio.baseUrl, { authToken: 'not-the-token-at-all' }).send(message), { name: 'SmsDeliveryError', message: /Twilio answered 401 \(error 20003/ })
})

t.test('400: not sent, not tried again', async t => {
  const twilio = await startTwilio(t)
  twilio.answers.push(response => {
    response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 21211, message: 'Invalid \'To\' Phone Number', status: 400 }))
  })
  const error = await sender(twilio.baseUrl).send(message).catch((e: unknown) => e)
  t.ok(error instanceof SmsDeliveryError)
  t.match((error as Error).message, /Twilio answered 400 \(error 21211: Invalid 'To' Phone Number\)/)
  t.equal(twilio.received.length, 1, 'one request')
})

t.test('500 then 201: tried once more, sent', async t => {
  const twilio = await startTwilio(t)
  twilio.answers.push(response => { response.writeHead(500).end('oops') })
  await sender(twilio.baseUrl).send(message)
  t.equal(twilio.received.length, 2)
})

t.test('500 twice: not sent after one retry', async t => {
  const twilio = await startTwilio(t)
  twilio.answers.push(response => { response.writeHead(500).end('oops') }, response => { response.writeHead(503).end('busy') })
  await t.rejects(sender(twilio.baseUrl).send(message), { name: 'SmsDeliveryError', message: /Twilio answered 503/ })
  t.equal(twilio.received.length, 2, 'exactly one retry')
})

t.test('slow: the timeout ends it, without a retry that could send the code twice', async t => {
  const twilio = await startTwilio(t)
  twilio.answers.push(() => { /* never answers */ })
  await t.rejects(sender(twilio.baseUrl, {}, 200).send(message), { name: 'SmsDeliveryError', message: /no answer in 200 ms/ })
  t.equal(twilio.received.length, 1)
})

t.test('connection refused: tried once more, then not sent', async t => {
  const twilio = await startTwilio(t)
  const closed = await new Promise<number>(resolve => {
    const probe = createServer()
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
  await t.rejects(sender(`http://127.0.0.1:${closed}`).send(message), { name: 'SmsDeliveryError', message: /Twilio: fetch failed/ })
  t.equal(twilio.received.length, 0)
})

t.test('SMS_PROVIDER=twilio: register sends through Twilio; a provider error is 503, never 500', async t => {
  const twilio = await startTwilio(t)
  const { app } = await buildTestApp(t, {
    SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: accountSid, TWILIO_AUTH_TOKEN: authToken, TWILIO_FROM: 'phonepass', TWILIO_BASE_URL: twilio.baseUrl
  })
  const sent = await post(app, '/api/users/register/', { phone: '+79123456789' })
  t.equal(sent.statusCode, 200)
  t.equal(twilio.received[0]?.form.From, 'phonepass')
  const code = /(\d{4})/.exec(twilio.received[0]?.form.Body ?? '')?.[1] ?? ''
  t.equal((await post(app, '/api/users/verify_code/', { phone: '+79123456789', auth_code: code })).statusCode, 200, 'the code in the SMS signs in')

  twilio.answers.push(response => { response.writeHead(500).end() }, response => { response.writeHead(500).end() })
  const failed = await post(app, '/api/users/register/', { phone: '+79123456780' })
  t.equal(failed.statusCode, 503)
  t.equal(failed.json().code, 'sms_unavailable')
  t.ok(failed.headers['retry-after'])
  twilio.answers.push(response => {
    response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 21610, message: 'Attempt to send to unsubscribed recipient' }))
  })
  t.equal((await post(app, '/api/users/register/', { phone: '+79123456780' })).statusCode, 503, 'a 400 from Twilio is 503 to the caller too')
})

t.test('twilio configuration is checked at start-up', async t => {
  const base = { SMS_PROVIDER: 'twilio' }
  t.throws(() => loadConfig(base), /TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required when SMS_PROVIDER=twilio/)
  t.throws(() => loadConfig({ ...base, TWILIO_ACCOUNT_SID: accountSid, TWILIO_AUTH_TOKEN: authToken }), /TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID is required/)
  t.throws(() => loadConfig({ ...base, TWILIO_ACCOUNT_SID: 'AC123' }), /TWILIO_ACCOUNT_SID must be a Twilio account SID/)
  t.throws(() => loadConfig({ ...base, TWILIO_AUTH_TOKEN: 'short' }), /TWILIO_AUTH_TOKEN must be .*got \(hidden\)/)
  const config = loadConfig({ ...base, TWILIO_ACCOUNT_SID: accountSid, TWILIO_AUTH_TOKEN: authToken, TWILIO_MESSAGING_SERVICE_SID: 'MG' + '1'.repeat(32) })
  t.same(config.sms.twilio, { accountSid, authToken, from: undefined, messagingServiceSid: 'MG' + '1'.repeat(32), baseUrl: 'https://api.twilio.com' })
})
