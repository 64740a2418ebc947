import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildTestApp, post, type TestContext } from '../helpers/app.js'
import { createLimits } from '../../src/services/limits.js'
import { systemClock } from '../../src/services/clock.js'
import { loadConfig } from '../../src/config.js'

// The walk-around a security review found: sign in, ask for the next code with the device
// token that sign-in returned, sign in again without presenting it (a new device, a fresh
// budget), and so on: 25 SMS reached one number in a few seconds. Each address is new, as an
// attacker's would be, so the per-IP limits play no part here.

const minute = 60_000
const hour = 3_600_000
const phone = '+79123456789'
let address = 0

function nextAddress (): string {
  address++
  return `198.51.${Math.floor(address / 250)}.${address % 250 + 1}`
}

async function register (app: FastifyInstance, deviceToken?: string) {
  return await app.inject({ method: 'POST', url: '/api/users/register/', payload: deviceToken === undefined ? { phone } : { phone, device_token: deviceToken }, remoteAddress: nextAddress() })
}

/** Signs in with the newest code, presenting no device token: the sign-in mints a device. */
async function signInAsNewDevice (context: TestContext): Promise<string> {
  const verified = await context.app.inject({ method: 'POST', url: '/api/users/verify_code/', payload: { phone, auth_code: context.sms.lastCode(phone) }, remoteAddress: nextAddress() })
  if (verified.statusCode !== 200) throw new Error(`verify answered ${verified.statusCode}: ${verified.body}`)
  return verified.json<{ device_token: string }>().device_token
}

function deviceIdOf (token: string): string {
  return token.split('.')[1] ?? ''
}

t.test('a sign-in keeps the spacing: a code right after it waits out the 60 s', async t => {
  const context = await buildTestApp(t)
  t.equal((await register(context.app)).statusCode, 200)
  const deviceToken = await signInAsNewDevice(context)
  const again = await register(context.app, deviceToken)
  t.equal(again.statusCode, 429)
  t.equal(again.json().code, 'resend_too_soon', 'the spent code still holds the spacing')
  t.equal(again.headers['retry-after'], '60')
  context.clock.advance(minute)
  t.equal((await register(context.app, deviceToken)).statusCode, 200, 'after 60 s the device gets its code')
})

t.test('a spent code cannot sign in again, and says so as before', async t => {
  const context = await buildTestApp(t)
  await register(context.app)
  const code = context.sms.lastCode(phone)
  await signInAsNewDevice(context)
  const reused = await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })
  t.equal(reused.statusCode, 400)
  t.equal(reused.json().code, 'code_not_found')
})

t.test('no number of sign-ins as new devices lifts the phone\'s ceiling: 6 an hour, 20 a day by default', async t => {
  const context = await buildTestApp(t)
  const { app, sms, clock } = context
  // Every device token the attacker ever got, and none: each minute it tries them all.
  const tokens: Array<string | undefined> = [undefined]
  const sentPerHour: number[] = []
  // Six hours are enough: at 6 an hour the day's 20 run out in the fourth.
  for (let h = 0; h < 6; h++) {
    const before = sms.messages.length
    for (let i = 0; i < 20; i++) {
      for (const token of tokens) {
        if ((await register(app, token)).statusCode !== 200) continue
        // Sign in without presenting a token: a new device, if the phone still takes one.
        tokens.push(await signInAsNewDevice(context))
        break
      }
      clock.advance(minute)
    }
    sentPerHour.push(sms.messages.length - before)
    clock.advance(hour - 20 * minute)
  }
  t.ok(sentPerHour.every(count => count <= 6), `at most 6 an hour (${sentPerHour.join(', ')})`)
  t.equal(sentPerHour[0], 6, 'the first hour reaches the ceiling, no more')
  t.equal(sms.messages.length, 20, 'the day\'s ceiling: 20 SMS, not one more')
  t.same(sentPerHour.slice(4), [0, 0], 'and none after it')
  t.equal(new Set(tokens.slice(1).map(token => deviceIdOf(token ?? ''))).size, 4, 'three devices of their own and the shared one')
})

t.test('the owner\'s device keeps its budget within the ceiling after a stranger spent the phone\'s', async t => {
  const context = await buildTestApp(t, { LIMIT_CODES_PER_PHONE_HOUR: '100' })
  const { app, clock } = context
  await register(app)
  const ownerToken = await signInAsNewDevice(context)
  clock.advance(minute)
  // A stranger (no device token) spends the rest of the phone's day: 10 codes in all.
  for (let i = 1; i < 10; i++) {
    t.equal((await register(app)).statusCode, 200, `stranger's code ${i + 1}`)
    clock.advance(minute)
  }
  t.equal((await register(app)).json().code, 'too_many_codes', 'the stranger is out of the phone\'s quota')
  clock.advance(minute)
  for (let i = 0; i < 10; i++) {
    t.equal((await register(app, ownerToken)).statusCode, 200, `owner's code ${i + 1}`)
    clock.advance(minute)
  }
  const over = await register(app, ownerToken)
  t.equal(over.json().code, 'too_many_codes', 'the owner too stops at the ceiling (20 a day)')
})

t.test('a phone collects at most 3 device identities a day; later sign-ins share one', async t => {
  const context = await buildTestApp(t, { LIMIT_CODES_PER_PHONE_HOUR: '100', LIMIT_CODES_PER_PHONE_ALL_HOUR: '100' })
  const ids: string[] = []
  for (let i = 0; i < 6; i++) {
    t.equal((await register(context.app)).statusCode, 200)
    ids.push(deviceIdOf(await signInAsNewDevice(context)))
    context.clock.advance(minute)
  }
  t.equal(new Set(ids.slice(0, 3)).size, 3, 'the first three sign-ins get identities of their own')
  t.equal(new Set(ids.slice(3)).size, 1, 'the later ones share one')
  t.notOk(ids.slice(0, 3).includes(ids[3] ?? ''), 'the shared identity is none of the three')
  context.clock.advance(24 * hour)
  t.equal((await register(context.app)).statusCode, 200)
  t.notOk(ids.includes(deviceIdOf(await signInAsNewDevice(context))), 'the next day a new device gets its own again')
})

t.test('a ceiling below the phone\'s quota is refused at start-up', async t => {
  t.throws(() => loadConfig({ DATABASE_URL: 'sqlite::memory:', LIMIT_CODES_PER_PHONE_ALL_DAY: '5' }),
    { message: 'Invalid configuration: LIMIT_CODES_PER_PHONE_ALL_DAY must be at least LIMIT_CODES_PER_PHONE_DAY (10), got 5' })
  t.equal(loadConfig({ DATABASE_URL: 'sqlite::memory:', LIMIT_CODES_PER_PHONE_HOUR: '7' }).limits.codesPerPhoneAllHour, 14, 'by default twice the quota')
})

t.test('device identities are counted atomically: of 20 parallel new devices, 3 get their own', async t => {
  const { app, config } = await buildTestApp(t)
  const limits = createLimits({ db: app.db, config, clock: systemClock, logger: app.log })
  const granted = await Promise.all(Array.from({ length: 20 }, async () =>
    await app.db.transaction().execute(async trx => await limits.takeNewDevice(trx, phone))))
  t.equal(granted.filter(Boolean).length, 3)
})
