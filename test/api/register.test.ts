import t from 'tap'
import { buildTestApp, post, signIn } from '../helpers/app.js'

t.test('register sends a code by SMS and answers with the normalised phone', async t => {
  const { app, sms } = await buildTestApp(t)
  const res = await post(app, '/api/users/register/', { phone: '+7 (912) 345-67-89' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { phone: '+79123456789', expires_in: 300, resend_in: 60, detail: 'A code was sent to +79123456789.', channel: 'sms', channels: ['sms'] })
  t.equal(sms.messages.length, 1)
  t.equal(sms.messages[0]?.to, '+79123456789')
  t.match(sms.messages[0]?.body, /^Your phonepass code: \d{4}\. It expires in 5 min/)
})

t.test('register accepts a form body, as DRF did', async t => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'POST', url: '/api/users/register/', payload: 'phone=%2B79123456789', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().phone, '+79123456789')
})

t.test('the code is stored only as an HMAC', async t => {
  const { app, sms } = await buildTestApp(t)
  await post(app, '/api/users/register/', { phone: '+79123456789' })
  const code = sms.lastCode('+79123456789')
  const row = await app.db.selectFrom('login_codes').selectAll().executeTakeFirstOrThrow()
  t.match(row.code_hash, /^[0-9a-f]{64}$/)
  t.notMatch(JSON.stringify(row), new RegExp(`"${code}"`), 'the code itself is nowhere in the row')
})

t.test('register refuses a bad phone with a clear 400', async t => {
  const { app, sms } = await buildTestApp(t)
  for (const phone of ['12', 'abc', '+7 912 345 67 89 ext 5', '+7912３４５6789', '+٧٩١٢٣٤٥٦٧٨٩', '+99912345678', '']) {
    const res = await post(app, '/api/users/register/', { phone })
    t.equal(res.statusCode, 400, `${JSON.stringify(phone)} is refused`)
    t.ok(['phone_invalid', 'validation_error'].includes(res.json().code), `${JSON.stringify(phone)}: ${res.body}`)
    t.type(res.json().detail, 'string')
  }
  const missing = await post(app, '/api/users/register/', {})
  t.equal(missing.statusCode, 400)
  t.same(missing.json().errors, { phone: ['This field is required.'] })
  t.equal(sms.messages.length, 0, 'no SMS for a refused number')
})

t.test('a second code within 60 s is refused with 429 and Retry-After; allowed after', async t => {
  const { app, sms, clock } = await buildTestApp(t)
  t.equal((await post(app, '/api/users/register/', { phone: '+79123456789' })).statusCode, 200)
  clock.advance(20_000)
  const refused = await post(app, '/api/users/register/', { phone: '+79123456789' })
  t.equal(refused.statusCode, 429)
  t.equal(refused.headers['retry-after'], '40')
  t.equal(refused.json().code, 'resend_too_soon')
  t.match(refused.json().detail, /in 40 seconds/)
  clock.advance(40_000)
  t.equal((await post(app, '/api/users/register/', { phone: '+79123456789' })).statusCode, 200)
  t.equal(sms.messages.length, 2)
})

t.test('parallel requests for one phone send one code', async t => {
  const { app, sms } = await buildTestApp(t)
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await post(app, '/api/users/register/', { phone: '+79123456789' })))
  t.equal(answers.filter(res => res.statusCode === 200).length, 1)
  t.equal(answers.filter(res => res.statusCode === 429).length, 19)
  t.equal(sms.messages.length, 1)
})

t.test('register answers alike for known and unknown phones', async t => {
  const context = await buildTestApp(t)
  await signIn(context, '+79123456789')
  context.clock.advance(61_000)
  const known = await post(context.app, '/api/users/register/', { phone: '+79123456789' })
  const unknown = await post(context.app, '/api/users/register/', { phone: '+79123456780' })
  t.equal(known.statusCode, unknown.statusCode)
  t.same(Object.keys(known.json()), Object.keys(unknown.json()))
  t.same({ ...known.json(), phone: '', detail: '' }, { ...unknown.json(), phone: '', detail: '' })
})

t.test('a provider failure answers 503 and leaves no usable code', async t => {
  const { app, sms } = await buildTestApp(t)
  sms.behave((_message, response) => { response.writeHead(500).end('down') })
  const res = await post(app, '/api/users/register/', { phone: '+79123456789' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'sms_unavailable')
  t.ok(res.headers['retry-after'])
  const code = sms.lastCode('+79123456789')
  const verify = await post(app, '/api/users/verify_code/', { phone: '+79123456789', auth_code: code })
  t.equal(verify.statusCode, 400, 'the undelivered code does not sign in')
  t.equal(verify.json().code, 'code_not_found')
  sms.behave((_message, response) => { response.writeHead(200).end() })
  t.equal((await post(app, '/api/users/register/', { phone: '+79123456789' })).statusCode, 200, 'the failed send holds no cooldown')
})

t.test('errors speak Russian to Accept-Language: ru', async t => {
  const { app } = await buildTestApp(t)
  const res = await post(app, '/api/users/register/', { phone: 'abc' }, { 'accept-language': 'ru-RU,ru;q=0.9,en;q=0.5' })
  t.equal(res.statusCode, 400)
  t.match(res.json().detail, /Введите номер телефона/)
  await post(app, '/api/users/register/', { phone: '+79123456789' })
  const soon = await post(app, '/api/users/register/', { phone: '+79123456789' }, { 'accept-language': 'ru' })
  t.match(soon.json().detail, /через 60 секунд/)
})

t.test('test phone numbers get their fixed code without an SMS', async t => {
  const { app, sms } = await buildTestApp(t)
  const res = await post(app, '/api/users/register/', { phone: '+1 555 010 0001' })
  t.equal(res.statusCode, 200)
  t.equal(res.json().phone, '+15550100001')
  t.equal(sms.messages.length, 0)
  const verified = await post(app, '/api/users/verify_code/', { phone: '+15550100001', auth_code: '1234' })
  t.equal(verified.statusCode, 200)
})

t.test('a test number\'s answer cannot be told from any other number\'s', async t => {
  const { app } = await buildTestApp(t, { OTP_TTL_SECONDS: '240', OTP_RESEND_SECONDS: '45' })
  const real = await post(app, '/api/users/register/', { phone: '+79123456789' })
  const test = await post(app, '/api/users/register/', { phone: '+15550100001' })
  t.same(real.json(), { phone: '+79123456789', expires_in: 240, resend_in: 45, detail: 'A code was sent to +79123456789.', channel: 'sms', channels: ['sms'] })
  t.same(test.json(), { phone: '+15550100001', expires_in: 240, resend_in: 45, detail: 'A code was sent to +15550100001.', channel: 'sms', channels: ['sms'] }, 'the same expires_in and resend_in')
  t.same(Object.keys(test.headers).sort(), Object.keys(real.headers).sort(), 'the same headers')
})
