import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.js'
import { createSchema, postgresOnly, schemaUrl } from '../helpers/database.js'

// Two app instances on one PostgreSQL database (a schema of its own, dropped afterwards):
// the limits are counted in the database, so the two behave as one.
postgresOnly()

/** A schema for the test's apps; its drop is registered first, so it runs after they close. */
async function sharedSchemaUrl (t: { teardown: (fn: () => unknown) => void }): Promise<string> {
  const { schema, drop } = await createSchema()
  t.teardown(drop)
  return schemaUrl(schema)
}

async function verify (app: FastifyInstance, phone: string, code: string, ip: string) {
  return await app.inject({ method: 'POST', url: '/api/users/verify_code/', payload: { phone, auth_code: code }, remoteAddress: ip })
}

t.test('PostgreSQL, two instances: 50 parallel wrong guesses count 3 on the code and 50 on the phone', async t => {
  const url = await sharedSchemaUrl(t)
  const one = await buildTestApp(t, { DATABASE_URL: url, LIMIT_WRONG_CODES_PER_PHONE_DAY: '1000', LIMIT_WRONG_CODES_PER_IP_HOUR: '1000' })
  const two = await buildTestApp(t, { DATABASE_URL: url, LIMIT_WRONG_CODES_PER_PHONE_DAY: '1000', LIMIT_WRONG_CODES_PER_IP_HOUR: '1000' })
  const sent = await one.app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123456789' } })
  t.equal(sent.statusCode, 200)
  const guess = one.sms.lastCode('+79123456789') === '0000' ? '1111' : '0000'
  const answers = await Promise.all(Array.from({ length: 50 }, async (_, i) => await verify(i % 2 === 0 ? one.app : two.app, '+79123456789', guess, '127.0.0.1')))
  t.equal(answers.filter(res => res.json().code === 'code_invalid').length, 3)
  t.equal(answers.filter(res => res.json().code === 'too_many_attempts').length, 47)
  const counter = await two.app.db.selectFrom('limit_counters').select('count').where('key', '=', 'wrong:phone:+79123456789:d').executeTakeFirstOrThrow()
  t.equal(counter.count, 50)
})

t.test('PostgreSQL, two instances: the phone\'s day budget and the IP\'s send budget hold across both', async t => {
  const url = await sharedSchemaUrl(t)
  const one = await buildTestApp(t, { DATABASE_URL: url, OTP_MAX_ATTEMPTS: '10' })
  const two = await buildTestApp(t, { DATABASE_URL: url, OTP_MAX_ATTEMPTS: '10' })
  await one.app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123456789' } })
  const code = one.sms.lastCode('+79123456789')
  const guess = code === '0000' ? '1111' : '0000'
  const answers = await Promise.all(Array.from({ length: 30 }, async (_, i) => await verify(i % 2 === 0 ? one.app : two.app, '+79123456789', guess, `198.51.100.${i}`)))
  t.equal(answers.filter(res => res.json().code === 'code_invalid').length, 10, 'exactly the day budget reached the code')
  t.equal(answers.filter(res => res.json().code === 'too_many_wrong_codes').length, 20)
  t.equal((await verify(two.app, '+79123456789', code, '198.51.100.99')).json().code, 'too_many_wrong_codes')

  const sends = await Promise.all(Array.from({ length: 30 }, async (_, i) => await (i % 2 === 0 ? one : two).app.inject({
    method: 'POST', url: '/api/users/register/', payload: { phone: `+791234567${String(i).padStart(2, '0')}` }, remoteAddress: '203.0.113.9'
  })))
  t.equal(sends.filter(res => res.statusCode === 200).length, 10, 'the IP\'s 10 codes an hour, across both instances')
  t.equal(one.sms.messages.length + two.sms.messages.length, 1 + 10)
})

t.test('PostgreSQL, two instances: the hour\'s SMS cap spread over rows gives exactly the cap, no deadlock, none refused early', async t => {
  const url = await sharedSchemaUrl(t)
  const env = { DATABASE_URL: url, SMS_HOURLY_CAP: '200', LIMIT_CODES_PER_IP_HOUR: '1000', FRAUD_GUARD: 'enforce', FRAUD_MIN_SENDS_PREFIX: '100000', FRAUD_MIN_SENDS_COUNTRY: '100000', FRAUD_RESERVED_CAP_PERCENT: '20' }
  const one = await buildTestApp(t, env)
  const two = await buildTestApp(t, env)
  // New numbers: each send takes the hour's budget (200, four rows of 50) and the unknown share
  // (160, three rows of 53–54), both moving to another row when theirs is full: the smaller
  // refuses first, at exactly 160.
  const answers = await Promise.all(Array.from({ length: 240 }, async (_, i) => await (i % 2 === 0 ? one : two).app.inject({
    method: 'POST', url: '/api/users/register/', payload: { phone: `+7912347${String(i).padStart(4, '0')}` }, remoteAddress: `198.51.${i}.7`
  })))
  t.equal(answers.filter(res => res.statusCode === 200).length, 160, 'the unknown share of the cap, exactly')
  t.same([...new Set(answers.filter(res => res.statusCode !== 200).map(res => res.json().code))], ['sms_cap_reached'], 'every other send refused by the cap, none by a deadlock')
  t.equal(one.sms.messages.length + two.sms.messages.length, 160)
  const hour = await one.app.db.selectFrom('limit_counters').select(eb => eb.fn.sum<number>('count').as('sent')).where('key', '=', 'sms:all:h').executeTakeFirstOrThrow()
  t.equal(Number(hour.sent), 160, 'the hour\'s rows add up to what was sent')
})
