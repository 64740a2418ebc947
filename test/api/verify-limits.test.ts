import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, bearer, post, signIn } from '../helpers/app.js'

const minute = 60_000
const hour = 3_600_000

async function register (app: FastifyInstance, phone: string, ip = '127.0.0.1') {
  return await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone }, remoteAddress: ip })
}

async function verify (app: FastifyInstance, body: Record<string, string>, ip = '127.0.0.1') {
  return await app.inject({ method: 'POST', url: '/api/users/verify_code/', payload: body, remoteAddress: ip })
}

function wrongCode (code: string): string {
  return code === '0000' ? '1111' : '0000'
}

async function counter (app: FastifyInstance, key: string): Promise<number> {
  const row = await app.db.selectFrom('limit_counters').select('count').where('key', '=', key).executeTakeFirst()
  return row?.count ?? 0
}

// The test clock starts at 2026-01-01T00:00:00Z, on a day boundary.

t.test('wrong codes per phone: the 10th is judged, the 11th refused until the day ends, even with the right code', async t => {
  const { app, sms, clock } = await buildTestApp(t, { OTP_MAX_ATTEMPTS: '10' })
  await register(app, '+79123456789')
  const code = sms.lastCode('+79123456789')
  for (let i = 1; i <= 10; i++) {
    const res = await verify(app, { phone: '+79123456789', auth_code: wrongCode(code) }, `198.51.100.${i}`)
    t.equal(res.json().code, 'code_invalid', `wrong code ${i}`)
  }
  clock.advance(hour)
  const refused = await verify(app, { phone: '+79123456789', auth_code: code })
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().code, 'too_many_wrong_codes')
  t.equal(refused.headers['retry-after'], String(23 * 3600), 'until the day window ends')
  t.match(refused.json().detail, /Sign-in from a new device is paused; try again in 23 hours/)
  clock.advance(23 * hour)
  await register(app, '+79123456789')
  const next = await verify(app, { phone: '+79123456789', auth_code: sms.lastCode('+79123456789') })
  t.equal(next.statusCode, 200, 'allowed again the next day')
})

t.test('50 parallel wrong guesses: at most 3 count on the code, all 50 on the phone\'s day', async t => {
  const { app, sms } = await buildTestApp(t, { LIMIT_WRONG_CODES_PER_PHONE_DAY: '1000', LIMIT_WRONG_CODES_PER_IP_HOUR: '1000' })
  await register(app, '+79123456789')
  const guess = wrongCode(sms.lastCode('+79123456789'))
  const answers = await Promise.all(Array.from({ length: 50 }, async () => await verify(app, { phone: '+79123456789', auth_code: guess })))
  t.equal(answers.filter(res => res.json().code === 'code_invalid').length, 3, 'three were compared with the code')
  t.equal(answers.filter(res => res.json().code === 'too_many_attempts').length, 47)
  const row = await app.db.selectFrom('login_codes').select('attempts').where('phone', '=', '+79123456789').executeTakeFirstOrThrow()
  t.equal(row.attempts, 3, 'the code counted 3 tries')
  t.equal(await counter(app, 'wrong:phone:+79123456789:d'), 50, 'the phone counted every guess')
  t.equal(await counter(app, 'wrong:ip:127.0.0.1:h'), 50, 'so did the IP')
})

t.test('50 parallel wrong guesses under the default limits: 10 reach the code, 50 are counted', async t => {
  const { app, sms } = await buildTestApp(t, { OTP_MAX_ATTEMPTS: '10' })
  await register(app, '+79123456789')
  const guess = wrongCode(sms.lastCode('+79123456789'))
  const answers = await Promise.all(Array.from({ length: 50 }, async (_, i) => await verify(app, { phone: '+79123456789', auth_code: guess }, `198.51.100.${i}`)))
  t.equal(answers.filter(res => res.json().code === 'code_invalid').length, 10)
  t.equal(answers.filter(res => res.json().code === 'too_many_wrong_codes').length, 40)
  t.equal(await counter(app, 'wrong:phone:+79123456789:d'), 50)
})

t.test('the owner\'s device keeps signing in while a new device is refused', async t => {
  const context = await buildTestApp(t, { OTP_MAX_ATTEMPTS: '10' })
  const { app, sms, clock } = context
  const owner = await signIn(context, '+79123456789')
  const deviceToken = (owner as unknown as { device_token: string }).device_token
  t.match(deviceToken, /^v1\.[A-Za-z0-9_-]{22}\.\d+\.[A-Za-z0-9_-]{43}$/, 'verify_code answers with a device token')

  // An attacker spends the phone's wrong codes and its codes for the hour.
  clock.advance(minute)
  await register(app, '+79123456789', '203.0.113.66')
  const attacked = sms.lastCode('+79123456789')
  for (let i = 0; i < 10; i++) await verify(app, { phone: '+79123456789', auth_code: wrongCode(attacked) }, '203.0.113.66')
  clock.advance(minute)
  t.equal((await register(app, '+79123456789', '203.0.113.66')).statusCode, 200)
  clock.advance(minute)
  t.equal((await register(app, '+79123456789', '203.0.113.66')).json().code, 'too_many_codes', 'the phone\'s codes for the hour are spent')
  const stranger = await verify(app, { phone: '+79123456789', auth_code: sms.lastCode('+79123456789') }, '203.0.113.67')
  t.equal(stranger.json().code, 'too_many_wrong_codes', 'a new device is refused even with the right code')

  const forgedToken = deviceToken.slice(0, -2) + (deviceToken.endsWith('AA') ? 'BB' : 'AA')
  t.equal((await post(app, '/api/users/register/', { phone: '+79123456789', device_token: forgedToken })).json().code, 'too_many_codes', 'a forged device token gets no quota')

  const sent = await post(app, '/api/users/register/', { phone: '+79123456789', device_token: deviceToken })
  t.equal(sent.statusCode, 200, 'the owner\'s device gets a code on its own quota')
  const code = sms.lastCode('+79123456789')
  const forged = await verify(app, { phone: '+79123456789', auth_code: code, device_token: forgedToken })
  t.equal(forged.json().code, 'too_many_wrong_codes', 'a forged device token is no device token')

  const mine = await verify(app, { phone: '+79123456789', auth_code: code, device_token: deviceToken })
  t.equal(mine.statusCode, 200, 'the owner signs in')
  t.equal(mine.json().created, false)
  const me = await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(mine.json().access) })
  t.equal(me.json().phone, '+79123456789')
  t.equal(mine.json().device_token.split('.')[1], deviceToken.split('.')[1], 'the device keeps its id')
})

t.test('the owner\'s device has a budget of its own: the 11th wrong code is refused', async t => {
  const context = await buildTestApp(t, { OTP_MAX_ATTEMPTS: '10' })
  const { app, sms, clock } = context
  const { device_token: deviceToken } = (await signIn(context, '+79123456789')) as unknown as { device_token: string }
  clock.advance(minute)
  await post(app, '/api/users/register/', { phone: '+79123456789', device_token: deviceToken })
  const code = sms.lastCode('+79123456789')
  for (let i = 1; i <= 10; i++) {
    t.equal((await verify(app, { phone: '+79123456789', auth_code: wrongCode(code), device_token: deviceToken })).json().code, 'code_invalid', `wrong code ${i}`)
  }
  t.equal((await verify(app, { phone: '+79123456789', auth_code: code, device_token: deviceToken })).json().code, 'too_many_wrong_codes')
  clock.advance(minute)
  await register(app, '+79123456789')
  t.equal((await verify(app, { phone: '+79123456789', auth_code: sms.lastCode('+79123456789') })).statusCode, 200, 'the device\'s tries were not the phone\'s')
})

t.test('a device token of another phone gives no budget for this one', async t => {
  const context = await buildTestApp(t, { OTP_MAX_ATTEMPTS: '10', LIMIT_WRONG_CODES_PER_PHONE_DAY: '1' })
  const { app, sms } = context
  const { device_token: otherPhones } = (await signIn(context, '+79123456780')) as unknown as { device_token: string }
  await register(app, '+79123456789')
  const code = sms.lastCode('+79123456789')
  t.equal((await verify(app, { phone: '+79123456789', auth_code: wrongCode(code) })).json().code, 'code_invalid')
  t.equal((await verify(app, { phone: '+79123456789', auth_code: code, device_token: otherPhones })).json().code, 'too_many_wrong_codes')
})

t.test('a right code does not count as a wrong one', async t => {
  const context = await buildTestApp(t)
  await signIn(context, '+79123456789')
  t.equal(await counter(context.app, 'wrong:phone:+79123456789:d'), 0)
  t.equal(await counter(context.app, 'wrong:ip:127.0.0.1:h'), 0)
})

t.test('wrong codes per IP: the 30th is judged, the 31st refused until the hour ends', async t => {
  const { app, clock } = await buildTestApp(t)
  for (let i = 0; i < 30; i++) {
    const res = await verify(app, { phone: `+791234567${String(i).padStart(2, '0')}`, auth_code: '0000' }, '203.0.113.5')
    t.equal(res.json().code, 'code_not_found', `try ${i + 1}`)
  }
  clock.advance(15 * minute)
  const refused = await verify(app, { phone: '+79123456799', auth_code: '0000' }, '203.0.113.5')
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().code, 'rate_limited')
  t.equal(refused.headers['retry-after'], '2700')
  t.equal((await verify(app, { phone: '+79123456799', auth_code: '0000' }, '203.0.113.6')).json().code, 'code_not_found', 'another IP is not affected')
  clock.advance(45 * minute)
  t.equal((await verify(app, { phone: '+79123456798', auth_code: '0000' }, '203.0.113.5')).json().code, 'code_not_found', 'allowed again in the next hour')
})

t.test('test numbers are not exempt from the wrong-code limits', async t => {
  const { app, clock } = await buildTestApp(t)
  for (let i = 1; i <= 10; i++) {
    if (i % 3 === 1) t.equal((await register(app, '+15550100001')).statusCode, 200)
    t.equal((await verify(app, { phone: '+15550100001', auth_code: '9999' })).json().code, 'code_invalid', `wrong code ${i}`)
  }
  const refused = await verify(app, { phone: '+15550100001', auth_code: '1234' })
  t.equal(refused.json().code, 'too_many_wrong_codes', 'the fixed code is refused after 10 wrong ones')
  clock.advance(24 * hour)
  await register(app, '+15550100001')
  t.equal((await verify(app, { phone: '+15550100001', auth_code: '1234' })).statusCode, 200, 'the next day it signs in')
})

t.test('wrong invite codes per user: the 10th is judged, the 11th refused until the hour ends', async t => {
  const context = await buildTestApp(t, { ACCESS_TOKEN_TTL_SECONDS: '86400' })
  const { app, clock } = context
  const inviter = await signIn(context, '+79123456780')
  const me = await signIn(context, '+79123456789')
  const activate = async (code: string) => await app.inject({ method: 'PATCH', url: '/api/profile/', payload: { invite_code: code }, headers: bearer(me.access) })
  for (let i = 0; i < 12; i++) t.equal((await activate(me.user.invite_code)).json().code, 'invite_own_code', 'a code that exists is not a guess')
  const unknown = inviter.user.invite_code === 'ZZZZZZ' ? 'YYYYYY' : 'ZZZZZZ'
  for (let i = 1; i <= 10; i++) t.equal((await activate(unknown)).statusCode, 404, `wrong invite ${i}`)
  clock.advance(20 * minute)
  const refused = await activate(inviter.user.invite_code)
  t.equal(refused.statusCode, 429, 'refused even for the right code')
  t.equal(refused.json().code, 'rate_limited')
  t.equal(refused.headers['retry-after'], '2400')
  clock.advance(40 * minute)
  const accepted = await activate(inviter.user.invite_code)
  t.equal(accepted.statusCode, 200, 'allowed again in the next hour')
  t.equal(accepted.json().activated_invite_code, inviter.user.invite_code)
})

t.test('50 parallel wrong invite codes: exactly 10 are looked up', async t => {
  const context = await buildTestApp(t)
  const me = await signIn(context, '+79123456789')
  const answers = await Promise.all(Array.from({ length: 50 }, async (_, i) => await context.app.inject({
    method: 'PATCH', url: '/api/profile/', payload: { invite_code: `ZZZZ${'23456789ABCDEFGHJKMNPQRSTUVWXY'[i % 30]}${i < 30 ? 'Z' : 'Y'}` }, headers: bearer(me.access)
  })))
  t.equal(answers.filter(res => res.statusCode === 404).length, 10)
  t.equal(answers.filter(res => res.statusCode === 429).length, 40)
  t.equal(await counter(context.app, `invite:user:${me.user.id}:h`), 50)
})

t.test('verify_code without device_token keeps working for old clients', async t => {
  const { app, sms } = await buildTestApp(t)
  await register(app, '+79123456789')
  const res = await post(app, '/api/users/verify_code/', { phone: '+79123456789', auth_code: sms.lastCode('+79123456789') })
  t.equal(res.statusCode, 200)
  t.type(res.json().device_token, 'string')
})
