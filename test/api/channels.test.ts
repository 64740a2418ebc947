import t from 'tap'
import { buildTestApp, post } from '../helpers/app.js'
import { WebClient } from '../web/web-client.js'
import { channelEnv, startTwilioStandIn, startWhatsAppStandIn, whatsAppVerifyToken, type SignedCallback } from '../helpers/provider-stand-ins.js'

// Codes by SMS, WhatsApp and a call (issue 25), against stand-ins of Twilio and the WhatsApp
// Cloud API. One app for the file; each test has its own numbers and client address, and moves
// the clock an hour on so the limit windows it meets are its own.
const twilio = await startTwilioStandIn()
const whatsapp = await startWhatsAppStandIn()
t.teardown(async () => { await twilio.close(); await whatsapp.close() })
const { app, clock } = await buildTestApp(t, {
  ...channelEnv(twilio, whatsapp),
  LIMIT_CODES_PER_IP_HOUR: '6',
  VOICE_HOURLY_CAP: '2',
  SMS_TIMEOUT_MS: '2000',
  ADMIN_PHONES: '+447400123457'
})
const hour = 3_600_000

async function register (phone: string, ip: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone, ...body }, headers, remoteAddress: ip })
}

async function verify (phone: string, code: string) {
  return await post(app, '/api/users/verify_code/', { phone, auth_code: code })
}

async function deliver (callback: SignedCallback) {
  return await app.inject({ method: 'POST', url: callback.url, headers: callback.headers, payload: callback.payload })
}

async function messages () {
  return await app.db.selectFrom('messages').select(['channel', 'provider', 'provider_id', 'status', 'country']).orderBy('created_at').orderBy('id').execute()
}

t.beforeEach(() => { clock.advance(hour) })

t.test('each channel delivers the code, and it signs in', async t => {
  const bySms = await register('+79120000001', '10.0.1.1', { channel: 'sms' })
  t.equal(bySms.statusCode, 200)
  t.match(bySms.json(), { phone: '+79120000001', expires_in: 300, resend_in: 60, channel: 'sms', channels: ['whatsapp', 'sms', 'voice'] }, 'the old fields, and the channel used')
  const sms = twilio.requests.at(-1)
  t.equal(sms?.resource, 'Messages')
  const code = twilio.lastCode('+79120000001')
  t.match(sms?.form.Body, new RegExp(`\\n@auth\\.example\\.test #${code}$`), 'the last line is the domain-bound one (WebOTP, iOS)')
  t.equal(sms?.form.StatusCallback, 'https://auth.example.test/callbacks/twilio')
  t.equal((await verify('+79120000001', code)).statusCode, 200)

  const byWhatsApp = await register('+79120000002', '10.0.1.1', {}, { 'accept-language': 'ru' })
  t.equal(byWhatsApp.json().channel, 'whatsapp', 'the first of the country\'s order')
  const template = whatsapp.requests.at(-1)?.payload
  t.match(template, {
    messaging_product: 'whatsapp',
    to: '79120000002',
    type: 'template',
    template: { name: 'phonepass_code', language: { code: 'ru' } }
  })
  const waCode = whatsapp.lastCode('+79120000002')
  t.same(template?.template.components, [
    { type: 'body', parameters: [{ type: 'text', text: waCode }] },
    { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: waCode }] }
  ], 'the authentication template: the code in the body and in the copy-code button')
  t.equal((await verify('+79120000002', waCode)).statusCode, 200)

  const byCall = await register('+79120000003', '10.0.1.1', { channel: 'voice' }, { 'accept-language': 'ru' })
  t.equal(byCall.json().channel, 'voice')
  const call = twilio.requests.at(-1)
  t.equal(call?.resource, 'Calls')
  t.equal(call?.form.From, '+15005550006')
  const twiml = call?.form.Twiml ?? ''
  const callCode = twilio.lastCode('+79120000003')
  const digits = callCode.split('').join(', ')
  t.equal(twiml.split(digits).length - 1, 2, 'the code is read twice, digit by digit')
  t.match(twiml, /<Say language="ru-RU"[^>]*>Ваш код phonepass/, 'in the person\'s language')
  t.equal((await verify('+79120000003', callCode)).statusCode, 200)

  const wrong = await register('+447400123456', '10.0.1.1', { channel: 'whatsapp' })
  t.equal(wrong.statusCode, 400, 'a channel the number\'s country does not offer')
  t.equal(wrong.json().code, 'channel_unavailable')
})

t.test('a failing WhatsApp falls back to SMS within the request', async t => {
  whatsapp.behave(response => { response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"Service temporarily unavailable","code":2}}') })
  t.teardown(() => { whatsapp.behave(undefined) })
  const before = (await messages()).length
  const res = await register('+79120000011', '10.0.2.1')
  t.equal(res.statusCode, 200)
  t.equal(res.json().channel, 'sms', 'the answer says the code went by SMS')
  t.same((await messages()).slice(before).map(m => `${m.channel} ${m.status}`).sort(), ['sms sent', 'whatsapp failed'], 'both tries recorded')
  t.equal((await verify('+79120000011', twilio.lastCode('+79120000011'))).statusCode, 200)

  // No answer at all: the timeout moves on to SMS too.
  whatsapp.behave(() => {})
  const hung = await register('+79120000012', '10.0.2.1')
  t.equal(hung.json().channel, 'sms')
})

t.test('an undelivered receipt lets the person ask again at once by another channel, once', async t => {
  const phone = '+79120000021'
  t.equal((await register(phone, '10.0.3.1', { channel: 'whatsapp' })).statusCode, 200)
  const sent = whatsapp.requests.at(-1)
  if (sent === undefined) throw new Error('nothing sent')
  t.equal((await register(phone, '10.0.3.1', { channel: 'sms' })).json().code, 'resend_too_soon', 'delivered or not yet known: the wait holds')

  t.equal((await deliver(whatsapp.statusWebhook(sent, 'sent'))).statusCode, 200)
  t.equal((await deliver(whatsapp.statusWebhook(sent, 'failed'))).statusCode, 200)
  t.equal((await messages()).find(m => m.provider_id === sent.id)?.status, 'undelivered')
  t.equal((await register(phone, '10.0.3.1', { channel: 'whatsapp' })).json().code, 'resend_too_soon', 'not again by the channel that failed')

  const parallel = await Promise.all(Array.from({ length: 6 }, () => register(phone, '10.0.3.1', { channel: 'sms' })))
  t.same(parallel.map(r => r.statusCode).sort(), [200, 429, 429, 429, 429, 429], 'one new code at once, however many ask together')
  t.equal((await verify(phone, twilio.lastCode(phone))).statusCode, 200)
  t.equal((await deliver(whatsapp.statusWebhook(sent, 'failed'))).statusCode, 200, 'a replayed receipt is taken')
  t.equal((await register(phone, '10.0.3.1', { channel: 'voice' })).json().code, 'resend_too_soon', 'and changes nothing')

  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /phonepass_channel_receipts_total\{channel="whatsapp",country="RU",status="undelivered"\} 1\n/)
  t.match(metrics.body, /phonepass_channel_messages_total\{channel="whatsapp",country="RU",outcome="sent"\} \d+/)
})

t.test('Twilio receipts: signed by its rules, checked with its own validator', async t => {
  const phone = '+79120000031'
  t.equal((await register(phone, '10.0.4.1', { channel: 'voice' })).statusCode, 200)
  const call = twilio.requests.at(-1)
  if (call === undefined) throw new Error('no call')
  const genuine = twilio.statusCallback(call, 'no-answer')

  const forged = twilio.statusCallback(call, 'no-answer', 'not-the-auth-token-0123456789')
  t.equal((await deliver(forged)).statusCode, 403, 'signed with another token')
  t.equal((await deliver({ ...genuine, headers: { 'content-type': genuine.headers['content-type'] ?? '' } })).statusCode, 403, 'unsigned')
  t.equal((await deliver({ ...genuine, payload: genuine.payload.replace('no-answer', 'completed') })).statusCode, 403, 'a field changed after signing')
  t.equal((await messages()).find(m => m.provider_id === call.sid)?.status, 'sent', 'refusals change nothing')
  t.equal((await register(phone, '10.0.4.1', { channel: 'sms' })).json().code, 'resend_too_soon')

  t.equal((await deliver(genuine)).statusCode, 204)
  t.equal((await messages()).find(m => m.provider_id === call.sid)?.status, 'undelivered')
  const bySms = await register(phone, '10.0.4.1', { channel: 'sms' })
  t.equal(bySms.json().channel, 'sms', 'an unanswered call: the code again by SMS at once')
  const sms = twilio.requests.at(-1)
  if (sms === undefined) throw new Error('no SMS')
  t.equal((await deliver(twilio.statusCallback(sms, 'delivered'))).statusCode, 204)
  t.equal((await messages()).find(m => m.provider_id === sms.sid)?.status, 'delivered')
  t.equal((await deliver(twilio.statusCallback(sms, 'undelivered'))).statusCode, 204)
  t.equal((await messages()).find(m => m.provider_id === sms.sid)?.status, 'delivered', 'a settled message stays as it is')
})

t.test('WhatsApp webhooks: forged or unsigned are refused and change nothing; the verify handshake', async t => {
  const phone = '+79120000041'
  t.equal((await register(phone, '10.0.5.1', { channel: 'whatsapp' })).statusCode, 200)
  const sent = whatsapp.requests.at(-1)
  if (sent === undefined) throw new Error('nothing sent')
  const forged = whatsapp.statusWebhook(sent, 'failed', 'another-app-secret-0123456789')
  t.equal((await deliver(forged)).statusCode, 403)
  const genuine = whatsapp.statusWebhook(sent, 'failed')
  t.equal((await deliver({ ...genuine, headers: { 'content-type': 'application/json' } })).statusCode, 403, 'unsigned')
  t.equal((await deliver({ ...genuine, payload: genuine.payload.replace('"failed"', '"delivered"') })).statusCode, 403, 'the body changed after signing')
  t.equal((await messages()).find(m => m.provider_id === sent.id)?.status, 'sent')
  t.equal((await register(phone, '10.0.5.1', { channel: 'sms' })).json().code, 'resend_too_soon', 'no resend opened by a forgery')

  const challenge = await app.inject({ method: 'GET', url: `/callbacks/whatsapp?hub.mode=subscribe&hub.verify_token=${whatsAppVerifyToken}&hub.challenge=1158201444` })
  t.equal(challenge.statusCode, 200)
  t.equal(challenge.body, '1158201444')
  const wrongToken = await app.inject({ method: 'GET', url: '/callbacks/whatsapp?hub.mode=subscribe&hub.verify_token=guess-0123456789abcdef&hub.challenge=1' })
  t.equal(wrongToken.statusCode, 403)
})

t.test('limits stay exact across channels under parallel requests', async t => {
  // 12 numbers at once from one address, by every channel: the address's 6 codes an hour
  // allow exactly 6, and the service's 2 calls an hour at most 2 of them calls.
  const before = twilio.requests.length + whatsapp.requests.length
  const asked = Array.from({ length: 12 }, (_, i) => register(`+791200001${String(i).padStart(2, '0')}`, '10.0.6.1', { channel: ['sms', 'whatsapp', 'voice'][i % 3] }))
  const answers = await Promise.all(asked)
  const ok = answers.filter(r => r.statusCode === 200)
  t.equal(ok.length, 6, 'exactly the address\'s quota')
  t.ok(ok.filter(r => r.json().channel === 'voice').length <= 2, 'no more calls than the voice cap')
  t.equal(twilio.requests.length + whatsapp.requests.length - before, 6, 'one message per code')
  for (const refused of answers.filter(r => r.statusCode !== 200)) t.match(refused.json().code, /^(rate_limited|too_many_calls)$/)

  clock.advance(hour)
  const calls = await Promise.all(Array.from({ length: 5 }, (_, i) => register(`+7912000020${i}`, `10.0.7.${i}`, { channel: 'voice' })))
  t.same(calls.map(r => r.statusCode).sort(), [200, 200, 429, 429, 429], 'exactly VOICE_HOURLY_CAP calls')
  t.same(calls.filter(r => r.statusCode === 429).map(r => r.json().code), ['too_many_calls', 'too_many_calls', 'too_many_calls'])
})

t.test('the admin\'s delivery rates by channel and country', async t => {
  const rates = await app.services.channels.deliveryRates(30 * 86_400_000)
  const whatsappRu = rates.find(rate => rate.channel === 'whatsapp' && rate.country === 'RU')
  t.match(whatsappRu, { undelivered: 1, failed: 2, delivered: 0, rate: 0 }, 'one receipt said failed; two sends fell back at once')
  const smsRu = rates.find(rate => rate.channel === 'sms' && rate.country === 'RU')
  t.match(smsRu, { delivered: 1, undelivered: 0, rate: 1 })

  const admin = new WebClient(app)
  t.equal((await admin.submit('/login', '/login', { phone: '+447400123457' })).statusCode, 303)
  t.equal((await admin.submit('/login/code', '/login/code', { auth_code: twilio.lastCode('+447400123457') })).statusCode, 303)
  const page = await admin.get('/admin/fraud')
  t.equal(page.statusCode, 200)
  const row = /<tr>\s*<th scope="row">whatsapp<\/th>\s*<td>RU<\/td>(.*?)<\/tr>/s.exec(page.body)?.[1]?.replace(/<[^>]+>/g, ' ').trim().split(/\s+/)
  t.ok(row !== undefined && row.at(-1) === '0%' && row[2] === '1', 'the admin page shows the day\'s delivery by channel and country')
})
