import t from 'tap'
import { buildTestApp, post } from '../helpers/app.js'

t.test('numbers that cannot take an SMS are refused with a clear 400 before any SMS', async t => {
  const { app, sms } = await buildTestApp(t)
  const refused = {
    '+78095551234': 'premium rate',
    '+74951234567': 'fixed line',
    '+18005551234': 'toll-free',
    '+448712345678': 'premium rate (GB)',
    '+445612345678': 'VoIP',
    '+33912345678': 'VoIP (FR)',
    '+447012345678': 'personal number'
  }
  for (const [phone, kind] of Object.entries(refused)) {
    const res = await post(app, '/api/users/register/', { phone })
    t.equal(res.statusCode, 400, `${kind} ${phone} is refused`)
    t.equal(res.json().code, 'phone_not_allowed')
    t.equal(res.json().detail, 'Codes cannot be sent to this number. Use a mobile number.')
    t.same(res.json().errors, { phone: ['Codes cannot be sent to this number. Use a mobile number.'] })
  }
  t.equal(sms.messages.length, 0, 'no SMS went out')
  const counters = await app.db.selectFrom('limit_counters').selectAll().execute()
  t.same(counters, [], 'a refused number spends no quota')
})

t.test('mobile and US/Canada fixed-line-or-mobile numbers are accepted', async t => {
  const { app, sms } = await buildTestApp(t)
  for (const phone of ['+79123456789', '+447400123456', '+12015550123']) {
    t.equal((await post(app, '/api/users/register/', { phone })).statusCode, 200, phone)
  }
  t.equal(sms.messages.length, 3)
})

t.test('SMS_ALLOWED_COUNTRIES refuses other countries with a clear 400; test numbers pass', async t => {
  const { app, sms } = await buildTestApp(t, { SMS_ALLOWED_COUNTRIES: 'RU, KZ' })
  const gb = await post(app, '/api/users/register/', { phone: '+447400123456' }, { 'accept-language': 'ru' })
  t.equal(gb.statusCode, 400)
  t.equal(gb.json().code, 'phone_country_not_allowed')
  t.equal(gb.json().detail, 'На номера этой страны нельзя отправить код.')
  t.equal((await post(app, '/api/users/register/', { phone: '+12015550123' })).json().code, 'phone_country_not_allowed')
  t.equal(sms.messages.length, 0)
  t.equal((await post(app, '/api/users/register/', { phone: '+79123456789' })).statusCode, 200)
  t.equal((await post(app, '/api/users/register/', { phone: '+77012345678' })).statusCode, 200)
  t.equal((await post(app, '/api/users/register/', { phone: '+15550100001' })).statusCode, 200, 'a test number sends nothing, so no country rule applies')
  t.equal(sms.messages.length, 2)
})

t.test('a wrong SMS_ALLOWED_COUNTRIES stops start-up with a clear line', async t => {
  const { loadConfig } = await import('../../src/config.js')
  t.throws(() => loadConfig({ SMS_ALLOWED_COUNTRIES: 'RU,XX' }), /SMS_ALLOWED_COUNTRIES must list ISO 3166 country codes such as RU or GB, got "XX"/)
  t.throws(() => loadConfig({ SMS_ALLOWED_COUNTRIES: 'ru' }), /SMS_ALLOWED_COUNTRIES must be a comma-separated list of ISO 3166 country codes/)
})
