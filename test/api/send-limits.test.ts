import t from 'tap'
import { buildTestApp, post } from '../helpers/app.js'
import type { FastifyInstance } from 'fastify'

const minute = 60_000
const hour = 3_600_000

async function register (app: FastifyInstance, phone: string, ip = '127.0.0.1') {
  return await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone }, remoteAddress: ip })
}

// The test clock starts at 2026-01-01T00:00:00Z, on an hour and a day boundary.

t.test('codes per phone: the 3rd in an hour is sent, the 4th refused until the hour ends', async t => {
  const { app, sms, clock } = await buildTestApp(t)
  for (let i = 1; i <= 3; i++) {
    t.equal((await register(app, '+79123456789')).statusCode, 200, `code ${i}`)
    clock.advance(minute + 1000)
  }
  const refused = await register(app, '+79123456789')
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().code, 'too_many_codes')
  t.equal(refused.headers['retry-after'], String(3600 - 3 * 61), 'waits until the hour window ends')
  t.match(refused.json().detail, /You can ask for a new one in 57 minutes/)
  t.equal(sms.messages.length, 3)
  t.equal((await register(app, '+79123456780')).statusCode, 200, 'other phones are not affected')
  clock.advance(hour - 3 * 61_000)
  t.equal((await register(app, '+79123456789')).statusCode, 200, 'allowed again in the next hour')
})

t.test('codes per phone: the 10th in a day is sent, the 11th refused until the day ends', async t => {
  const { app, clock } = await buildTestApp(t, { LIMIT_CODES_PER_PHONE_HOUR: '100' })
  for (let i = 1; i <= 10; i++) {
    t.equal((await register(app, '+79123456789')).statusCode, 200, `code ${i}`)
    clock.advance(hour)
  }
  const refused = await register(app, '+79123456789')
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().code, 'too_many_codes')
  t.equal(refused.headers['retry-after'], String(14 * 3600))
  clock.advance(14 * hour)
  t.equal((await register(app, '+79123456789')).statusCode, 200, 'allowed again the next day')
})

t.test('a code refused by the cooldown spends no quota', async t => {
  const { app, clock } = await buildTestApp(t)
  t.equal((await register(app, '+79123456789')).statusCode, 200)
  for (let i = 0; i < 5; i++) t.equal((await register(app, '+79123456789')).json().code, 'resend_too_soon')
  clock.advance(minute)
  t.equal((await register(app, '+79123456789')).statusCode, 200)
  clock.advance(minute)
  t.equal((await register(app, '+79123456789')).statusCode, 200, 'the 3rd code of the hour: the refused ones did not count')
})

t.test('codes per IP: the 10th in an hour is sent, the 11th refused until the hour ends', async t => {
  const { app, clock } = await buildTestApp(t)
  for (let i = 0; i < 10; i++) {
    t.equal((await register(app, `+7912345670${i}`, '203.0.113.7')).statusCode, 200, `code ${i + 1}`)
  }
  clock.advance(10 * minute)
  const refused = await register(app, '+79123456710', '203.0.113.7')
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().code, 'rate_limited')
  t.equal(refused.headers['retry-after'], '3000')
  t.match(refused.json().detail, /Try again in 50 minutes/)
  t.equal((await register(app, '+79123456710', '203.0.113.8')).statusCode, 200, 'another IP is not affected')
  clock.advance(50 * minute)
  t.equal((await register(app, '+79123456711', '203.0.113.7')).statusCode, 200, 'allowed again in the next hour')
})

t.test('IPv6 clients share one budget per /64', async t => {
  const { app } = await buildTestApp(t, { LIMIT_CODES_PER_IP_HOUR: '2' })
  t.equal((await register(app, '+79123456701', '2001:db8:1:2::1')).statusCode, 200)
  t.equal((await register(app, '+79123456702', '2001:db8:1:2:aaaa::2')).statusCode, 200)
  t.equal((await register(app, '+79123456703', '2001:0db8:0001:0002:ffff::3')).json().code, 'rate_limited')
  t.equal((await register(app, '+79123456704', '2001:db8:1:3::1')).statusCode, 200, 'another /64')
})

t.test('a failed send spends the IP\'s quota, not the phone\'s', async t => {
  const { app, sms, clock } = await buildTestApp(t, { LIMIT_CODES_PER_IP_HOUR: '4' })
  sms.behave((_message, response) => { response.writeHead(500).end('down') })
  for (let i = 0; i < 3; i++) t.equal((await register(app, '+79123456789')).statusCode, 503)
  sms.behave((_message, response) => { response.writeHead(200).end() })
  t.equal((await register(app, '+79123456789')).statusCode, 200, 'the phone still has its quota (3 an hour)')
  clock.advance(minute)
  const refused = await register(app, '+79123456789')
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().code, 'rate_limited', 'the IP spent its 4: three failed sends and one sent')
  t.equal((await register(app, '+79123456789', '198.51.100.1')).statusCode, 200, 'from another IP the phone gets its 2nd code of the hour')
})

t.test('parallel requests for many phones from one IP send at most the IP\'s quota', async t => {
  const { app, sms } = await buildTestApp(t)
  const answers = await Promise.all(Array.from({ length: 40 }, async (_, i) => await register(app, `+791234567${String(i).padStart(2, '0')}`, '203.0.113.9')))
  t.equal(answers.filter(res => res.statusCode === 200).length, 10)
  t.equal(answers.filter(res => res.statusCode === 429).length, 30)
  t.equal(sms.messages.length, 10)
  const counter = await app.db.selectFrom('limit_counters').select('count').where('key', '=', 'code:ip:203.0.113.9:h').executeTakeFirstOrThrow()
  t.equal(counter.count, 10, 'refused requests are not counted')
})

t.test('test numbers are exempt from sending and from the send limits', async t => {
  const { app, sms } = await buildTestApp(t, { LIMIT_CODES_PER_IP_HOUR: '1' })
  for (let i = 0; i < 20; i++) t.equal((await register(app, '+15550100001')).statusCode, 200, `request ${i + 1}`)
  t.equal(sms.messages.length, 0)
})

t.test('SMS_HOURLY_CAP: the cap\'s SMS is sent, the next answers 503 and logs one alert line', async t => {
  const { default: pino } = await import('pino')
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const { app, sms, clock } = await buildTestApp(t, { SMS_HOURLY_CAP: '3' }, { logger })
  for (let i = 0; i < 3; i++) t.equal((await register(app, `+7912345670${i}`, `198.51.100.${i}`)).statusCode, 200)
  clock.advance(30 * minute)
  for (let i = 3; i < 6; i++) {
    const refused = await register(app, `+7912345670${i}`, `198.51.100.${i}`)
    t.equal(refused.statusCode, 503)
    t.equal(refused.json().code, 'sms_cap_reached')
    t.equal(refused.headers['retry-after'], '1800')
    t.match(refused.json().detail, /We cannot send more text messages right now. Try again in 30 minutes/)
  }
  t.equal(sms.messages.length, 3, 'nothing was sent over the cap')
  const alerts = lines.filter(line => line.alert === 'sms_hourly_cap')
  t.equal(alerts.length, 1, 'one alert line per hour, not one per refusal')
  t.equal(alerts[0]?.level, 50, 'logged at error level')
  const refusedCode = await post(app, '/api/users/verify_code/', { phone: '+79123456703', auth_code: '0000' })
  t.equal(refusedCode.json().code, 'code_not_found', 'no code is left for a refused send')
  t.equal((await register(app, '+79123456703', '198.51.100.3')).statusCode, 503, 'the refused send spent none of the phone\'s quota: still refused only by the cap')
  clock.advance(30 * minute)
  t.equal((await register(app, '+79123456703', '198.51.100.3')).statusCode, 200, 'sent again in the next hour')

  const sent = lines.filter(line => line.msg === 'SMS code sent')
  t.equal(sent.length, 4)
  t.same(sent.map(line => line.phone), ['+7912***6700', '+7912***6701', '+7912***6702', '+7912***6703'], 'each send is logged with the phone masked')
  t.notMatch(JSON.stringify(lines), /\+79123456\d{3}/, 'no full phone number in any log line')
})

t.test('limits hold across two instances on one database', async t => {
  const { mkdtempSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'phonepass-limits-')), 'db.sqlite')}`
  const one = await buildTestApp(t, { DATABASE_URL: url })
  const two = await buildTestApp(t, { DATABASE_URL: url })
  const instances = [one, two, one]
  for (const [i, instance] of instances.entries()) {
    one.clock.advance(minute + 1000)
    two.clock.advance(minute + 1000)
    t.equal((await register(instance.app, '+79123456789')).statusCode, 200, `code ${i + 1}`)
  }
  one.clock.advance(minute + 1000)
  two.clock.advance(minute + 1000)
  t.equal((await register(two.app, '+79123456789')).json().code, 'too_many_codes', 'the 4th is refused on the other instance')
})

t.test('SMS_HOURLY_CAP spread over rows: 200 sends at once give exactly the cap, and the admin\'s count says so', async t => {
  // 150 is shared out among three rows of 50 (store/limit-counters.ts, stripesFor): a send whose
  // row is full moves to the next, so none is refused before all 150 are sent.
  const { app, sms } = await buildTestApp(t, { SMS_HOURLY_CAP: '150', LIMIT_CODES_PER_IP_HOUR: '1000', SMS_MAX_IN_FLIGHT: '1000' })
  const answers = await Promise.all(Array.from({ length: 200 }, async (_, i) => await register(app, `+7912346${String(i).padStart(4, '0')}`, `198.51.${i % 200}.1`)))
  t.equal(answers.filter(res => res.statusCode === 200).length, 150)
  t.equal(answers.filter(res => res.json().code === 'sms_cap_reached').length, 50)
  t.equal(sms.messages.length, 150, 'nothing was sent over the cap')
  const rows = await app.db.selectFrom('limit_counters').select(['window_start', 'count']).where('key', '=', 'sms:all:h').orderBy('window_start').execute()
  t.equal(rows.length, 3, 'three rows')
  t.same(rows.map(row => row.count), [50, 50, 50], 'each full to its share')
  t.same(rows.map(row => Number(row.window_start) - Number(rows[0]?.window_start)), [0, 1, 2], 'a millisecond apart in one window')
})
