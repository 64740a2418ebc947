import t from 'tap'
import pino from 'pino'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { AppDeps } from '../../src/app.js'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { countryAttack, ordinary, prefixAttack, solve } from '../helpers/pumping.js'

// The fraud guard against the SMS-pumping attacks of issue 23, on both databases: many code
// requests to numbers of one prefix, or of one country, from many addresses, codes never
// entered, interleaved with ordinary sign-ins from other countries. At most a tenth of an
// attack's requests become SMS, and every ordinary sign-in succeeds.

let addressCount = 0
const nextAddress = () => { addressCount++; return `198.51.${Math.floor(addressCount / 250) % 250}.${addressCount % 250}` }

async function register (app: FastifyInstance, phone: string, extra: Record<string, string> = {}, ip = nextAddress()): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone, ...extra }, remoteAddress: ip })
}

async function verify (context: TestContext, phone: string, ip = nextAddress()): Promise<LightMyRequestResponse> {
  return await context.app.inject({ method: 'POST', url: '/api/users/verify_code/', payload: { phone, auth_code: context.sms.lastCode(phone) }, remoteAddress: ip })
}

async function setup (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> = {}, deps: AppDeps = {}): Promise<TestContext> {
  return await buildTestApp(t, { FRAUD_GUARD: 'enforce', SMS_HOURLY_CAP: '200', ...env }, deps)
}

async function replay (context: TestContext, attack: string[], people: string[]): Promise<{ smsToAttack: number, ordinaryDone: number, failures: string[], outcomes: string }> {
  const before = context.sms.messages.length
  const attackSet = new Set(attack)
  let ordinaryDone = 0
  const failures: string[] = []
  const outcomes = new Map<number, number>()
  for (const [i, phone] of attack.entries()) {
    const answer = await register(context.app, phone)
    outcomes.set(answer.statusCode, (outcomes.get(answer.statusCode) ?? 0) + 1)
    if (answer.statusCode >= 500) failures.push(`${phone}: ${answer.statusCode} ${answer.body}`)
    // Every tenth request, an ordinary person signs in somewhere else.
    if (i % 10 === 9 && ordinaryDone < people.length) {
      const person = people[ordinaryDone++] as string
      const sent = await register(context.app, person)
      const signedIn = sent.statusCode === 200 ? await verify(context, person) : sent
      if (signedIn.statusCode !== 200) failures.push(`ordinary ${person}: ${signedIn.statusCode} ${signedIn.body}`)
    }
  }
  const smsToAttack = context.sms.messages.slice(before).filter(message => attackSet.has(message.to)).length
  return { smsToAttack, ordinaryDone, failures, outcomes: JSON.stringify(Object.fromEntries(outcomes)) }
}

t.test('a pumping attack on one prefix from 250 addresses, then one on a whole country: each mostly refused, ordinary sign-ins untouched', async t => {
  const context = await setup(t)
  for (const [label, attack, people] of [['one prefix (+44 7911 12xx xx)', prefixAttack, ordinary.slice(0, 50)], ['one country (Nigeria)', countryAttack, ordinary.slice(50, 100)]] as const) {
    const { smsToAttack, ordinaryDone, failures, outcomes } = await replay(context, attack, people)
    t.comment(`${label}: ${attack.length} requests, ${smsToAttack} SMS; answers ${outcomes}; ${ordinaryDone} ordinary sign-ins`)
    t.ok(smsToAttack <= attack.length / 10, `${label}: at most a tenth of the attack became SMS (${smsToAttack})`)
    t.equal(ordinaryDone, 50, 'ordinary sign-ins were interleaved')
    t.same(failures, [], `${label}: every ordinary sign-in succeeded, nothing failed`)
  }
  const events = await context.app.db.selectFrom('webhook_events').select('payload').where('type', '=', 'fraud.destination_suspect').execute()
  t.same(events, [], 'no outbox events without WEBHOOK_URL')
})

t.test('a person in the attacked prefix signs in with a solved challenge; an account or a device token meets none', async t => {
  const context = await setup(t, { WEBHOOK_URL: 'http://127.0.0.1:9/unused', WEBHOOK_SECRET: 'whsec_' + Buffer.alloc(32, 9).toString('base64') })
  // An account in the prefix from before the attack, and one with a device token.
  const [withAccount, withDevice, person, other] = prefixAttack.slice(480) as [string, string, string, string]
  t.equal((await register(context.app, withAccount)).statusCode, 200)
  t.equal((await verify(context, withAccount)).statusCode, 200)
  t.equal((await register(context.app, withDevice)).statusCode, 200)
  const deviceToken = (await verify(context, withDevice)).json<{ device_token: string }>().device_token
  // The attack: twenty numbers asked for, none entered.
  for (const phone of prefixAttack.slice(0, 20)) await register(context.app, phone)
  context.clock.advance(61_000)

  const asked = await register(context.app, person)
  t.equal(asked.statusCode, 403)
  const body = asked.json<{ code: string, detail: string, challenge: { algorithm: string, challenge: string, maxnumber: number, salt: string, signature: string } }>()
  t.equal(body.code, 'challenge_required')
  t.match(body.detail, 'a quick automatic check comes first')
  t.match(body.challenge, { algorithm: 'SHA-256', maxnumber: 50_000 })
  t.notOk(JSON.stringify(body).includes(person.slice(1)), 'the challenge does not carry the number')
  const solution = await solve(body.challenge)
  t.equal((await register(context.app, other, { challenge: solution })).json().code, 'challenge_invalid', 'bound to the phone it was issued for')
  const sent = await register(context.app, person, { challenge: solution })
  t.equal(sent.statusCode, 200, 'a solved challenge sends the code')
  t.equal((await verify(context, person)).statusCode, 200, 'and the person signs in')
  context.clock.advance(61_000)
  const replayed = await register(context.app, person, { challenge: solution })
  t.equal(replayed.statusCode, 200, 'a number with an account is no longer held back, so the replay is not even looked at')
  const replayedElsewhere = await register(context.app, other, { challenge: solution })
  t.equal(replayedElsewhere.json().code, 'challenge_invalid')

  t.equal((await register(context.app, withAccount)).statusCode, 200, 'a number with an account meets no challenge')
  t.equal((await register(context.app, withDevice, { device_token: deviceToken })).statusCode, 200, 'a device token of the phone meets no challenge')

  const expiring = (await register(context.app, other)).json<{ challenge: { algorithm: string, challenge: string, maxnumber: number, salt: string, signature: string } }>().challenge
  const late = await solve(expiring)
  context.clock.advance(301_000)
  t.equal((await register(context.app, other, { challenge: late })).json().code, 'challenge_invalid', 'an expired challenge is refused')
  const tampered = JSON.parse(Buffer.from(late, 'base64').toString()) as { number: number }
  tampered.number += 1
  t.equal((await register(context.app, other, { challenge: Buffer.from(JSON.stringify(tampered)).toString('base64') })).json().code, 'challenge_invalid', 'a wrong number is refused')
  t.equal((await register(context.app, other, { challenge: 'not base64 json' })).json().code, 'challenge_invalid', 'garbage is refused')

  const events = await context.app.db.selectFrom('webhook_events').select('payload').where('type', '=', 'fraud.destination_suspect').execute()
  t.equal(events.length, 1, 'one event when the prefix turned suspect')
  t.match(JSON.parse(events[0]?.payload ?? '{}'), { data: { destination: '+44791112', kind: 'prefix', reason: '2 of 10 codes sent in the last 60 minutes were entered (20%, below 30%)' } })
})

t.test('20 parallel uses of one solution give one send', async t => {
  const context = await setup(t)
  for (const phone of prefixAttack.slice(0, 20)) await register(context.app, phone)
  const phone = prefixAttack[100] as string
  const challenge = (await register(context.app, phone)).json<{ challenge: { algorithm: string, challenge: string, maxnumber: number, salt: string, signature: string } }>().challenge
  const solution = await solve(challenge)
  const before = context.sms.messages.length
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await register(context.app, phone, { challenge: solution })))
  const codes = answers.map(answer => answer.statusCode)
  t.equal(codes.filter(code => code === 200).length, 1, `one of 20 sent (${codes.join(' ')})`)
  t.equal(context.sms.messages.length - before, 1, 'one SMS')
  t.ok(answers.every(answer => answer.statusCode === 200 || ['challenge_invalid', 'resend_too_soon'].includes(answer.json().code)), 'the others are refused, none fails')
})

t.test('challenges solved and codes still unentered: new numbers of the prefix cool off', async t => {
  const context = await setup(t, { FRAUD_COOLING_MIN_SOLVED: '3' })
  for (const phone of prefixAttack.slice(0, 12)) await register(context.app, phone)
  for (const phone of prefixAttack.slice(12, 15)) {
    const challenge = (await register(context.app, phone)).json<{ challenge: { algorithm: string, challenge: string, maxnumber: number, salt: string, signature: string } }>().challenge
    t.equal((await register(context.app, phone, { challenge: await solve(challenge) })).statusCode, 200, 'a paid solver gets a code through')
  }
  const held = await register(context.app, prefixAttack[20] as string)
  t.equal(held.statusCode, 429)
  t.equal(held.json().code, 'destination_cooling_off')
  t.equal(held.headers['retry-after'], '3600')
  t.match(held.json().detail, 'paused for a while')
  t.equal((await register(context.app, ordinary[0] as string)).statusCode, 200, 'other destinations are not held')
  context.clock.advance(3_600_000 + 1000)
  t.equal((await register(context.app, prefixAttack[21] as string)).statusCode, 200, 'after the cooling-off and the window, the prefix starts afresh')
})

t.test('the hourly cap: unknown traffic leaves a reserved share for known phones', async t => {
  const context = await setup(t, { SMS_HOURLY_CAP: '10' })
  const known = ordinary[0] as string
  t.equal((await register(context.app, known)).statusCode, 200)
  const deviceToken = (await verify(context, known)).json<{ device_token: string }>().device_token
  const answers: number[] = []
  for (const phone of ordinary.slice(1, 12)) answers.push((await register(context.app, phone)).statusCode)
  t.same(answers, [200, 200, 200, 200, 200, 200, 200, 503, 503, 503, 503], 'new numbers get 8 of 10 (one went to the first sign-in): 20% is reserved')
  context.clock.advance(61_000)
  t.equal((await register(context.app, known, { device_token: deviceToken })).statusCode, 200, 'a known device still gets its code')
})

t.test('audit mode: nothing is refused, and what would have been is logged', async t => {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'warn' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  const context = await setup(t, { FRAUD_GUARD: 'audit' }, { logger })
  const answers = []
  for (const phone of prefixAttack.slice(0, 30)) answers.push((await register(context.app, phone)).statusCode)
  t.same([...new Set(answers)], [200], 'every code went out')
  t.ok(lines.some(line => line.alert === 'fraud_destination_suspect' && line.mode === 'audit'), 'the alert line')
  const wouldRefuse = lines.filter(line => line.fraudGuard === 'audit')
  t.ok(wouldRefuse.length >= 15, `${wouldRefuse.length} sends it would have refused`)
  t.match(wouldRefuse[0], { wouldRefuse: 'challenge_required', phone: /^\+4479\*\*\*\d{4}$/ })
})

t.test('off: the guard counts nothing', async t => {
  const context = await setup(t, { FRAUD_GUARD: 'off' })
  for (const phone of prefixAttack.slice(0, 30)) t.equal((await register(context.app, phone)).statusCode, 200)
  const counters = await context.app.db.selectFrom('limit_counters').select('key').where('key', 'like', 'fg:%').execute()
  t.same(counters, [])
})

t.test('a change of number to a new number in a suspect prefix: the challenge, then the move', async t => {
  const context = await setup(t)
  for (const phone of prefixAttack.slice(0, 20)) await register(context.app, phone)
  const owner = ordinary[110] as string
  t.equal((await register(context.app, owner)).statusCode, 200)
  const { access } = (await verify(context, owner)).json<{ access: string }>()
  context.clock.advance(61_000)
  t.equal((await register(context.app, owner)).statusCode, 200, 'a fresh code to the current number')
  const currentCode = context.sms.lastCode(owner)
  const target = prefixAttack[300] as string
  const change = async (extra: Record<string, string> = {}) => await context.app.inject({
    method: 'POST', url: '/api/users/me/phone/', headers: { authorization: `Bearer ${access}` }, payload: { phone: target, auth_code: currentCode, ...extra }, remoteAddress: nextAddress()
  })
  const asked = await change()
  t.equal(asked.statusCode, 403)
  t.equal(asked.json().code, 'challenge_required')
  const sent = await change({ challenge: await solve(asked.json().challenge) })
  t.equal(sent.statusCode, 200, 'the current number\'s code was given back with the refusal, and the solved challenge sends the new number\'s code')
  t.equal(context.sms.messages.at(-1)?.to, target)
})
