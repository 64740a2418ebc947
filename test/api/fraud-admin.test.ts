import t from 'tap'
import { parsePhoneNumberWithError } from 'libphonenumber-js/max'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildTestApp, signIn, type TestContext } from '../helpers/app.js'

// The fraud guard's admin API (issue 23), on both databases: destinations with their figures
// and reasons, verdicts set and cleared by hand, each audited, and a verdict holding from the
// very next send: a block refuses new numbers of the prefix, an allow lets a suspect prefix
// through without a challenge.

const supportKey = 'support-' + 'k'.repeat(40)
const adminHeaders = { authorization: `Bearer ${supportKey}` }

let addressCount = 0
const nextAddress = () => { addressCount++; return `198.51.${Math.floor(addressCount / 250) % 250}.${addressCount % 250}` }

function numbers (count: number, make: (i: number) => string): string[] {
  const found = new Set<string>()
  for (let i = 0; found.size < count && i < count * 50; i++) {
    const parsed = parsePhoneNumberWithError(make(i))
    if (parsed.isValid() && parsed.getType() === 'MOBILE') found.add(parsed.number)
  }
  if (found.size < count) throw new Error(`only ${found.size} numbers`)
  return [...found]
}

// The attacked range of the review (+44 7911 12xx xx), and the range next to it (both Guernsey's, to libphonenumber).
const attacked = numbers(60, i => `+44791112${String(i).padStart(4, '0')}`)
const neighbours = numbers(5, i => `+44791113${String(i).padStart(4, '0')}`)

async function setup (t: { teardown: (fn: () => unknown) => void }): Promise<TestContext> {
  return await buildTestApp(t, { FRAUD_GUARD: 'enforce', PHONEPASS_ADMIN_KEYS: `support:${supportKey}`, SMS_HOURLY_CAP: '500' })
}

async function register (app: FastifyInstance, phone: string): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone }, remoteAddress: nextAddress() })
}

async function call (app: FastifyInstance, method: InjectOptions['method'], url: string, payload?: unknown): Promise<LightMyRequestResponse> {
  return await app.inject({ method, url, headers: adminHeaders, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) })
}

async function auditOf (app: FastifyInstance, prefix: string) {
  const rows = await app.db.selectFrom('admin_audit').select(['action', 'actor', 'target_user_id', 'target_phone', 'details']).where('action', 'like', `${prefix}%`).orderBy('id').execute()
  return rows.map(row => ({ ...row, details: JSON.parse(row.details) as Record<string, unknown> }))
}

/** Twenty numbers of the prefix asked for, none entered: the prefix turns suspect (as in test/api/fraud-guard.test.ts). */
async function attack (app: FastifyInstance): Promise<void> {
  for (const phone of attacked.slice(0, 20)) await register(app, phone)
}

t.test('the list: destinations busiest first with figures and the suspicion, verdicts, a read.fraud entry', async t => {
  const context = await setup(t)
  const { app } = context
  const empty = await call(app, 'GET', '/api/admin/fraud/')
  t.equal(empty.statusCode, 200)
  t.same(empty.json(), { mode: 'enforce', window_minutes: 60, destinations: [], rules: [] })

  await attack(app)
  // An ordinary sign-in elsewhere: counted, not suspect.
  await signIn(context, '+79123456701')
  const listed = await call(app, 'GET', '/api/admin/fraud/')
  t.equal(listed.statusCode, 200)
  const body = listed.json<{ destinations: Array<Record<string, unknown>> }>()
  t.match(body.destinations[0], {
    destination: '+44791112',
    kind: 'prefix',
    sent: 10,
    entered: 0,
    solved: 0,
    baseline_per_window: Number,
    cooling_until: null,
    suspicion: '0 of 10 codes sent in the last 60 minutes were entered (0%, below 30%)',
    verdict: null
  }, 'the attacked prefix first (before its country at a tie), suspect, with why')
  // libphonenumber places +44 7911 12 in Guernsey.
  t.match(body.destinations[1], { destination: 'GG', kind: 'country', sent: 10, suspicion: null }, 'its country: counted, below the country minimum')
  t.match(body.destinations.find(d => d.destination === 'RU'), { kind: 'country', sent: 1, entered: 1, suspicion: null }, 'the ordinary sign-in, entered')
  t.same(body.destinations.map(d => d.sent), [...body.destinations.map(d => d.sent as number)].sort((a, b) => b - a), 'busiest first')
  t.equal((await call(app, 'GET', '/api/admin/fraud/?limit=1')).json<{ destinations: unknown[] }>().destinations.length, 1, 'limit')
  t.equal((await call(app, 'GET', '/api/admin/fraud/?limit=0')).statusCode, 400)

  const reads = await auditOf(app, 'read.fraud')
  t.equal(reads.length, 3, 'each read is audited (the refused one is not)')
  t.match(reads[1], { actor: 'support', target_user_id: null, target_phone: null, details: { shown: 4 } })
})

t.test('block, allow, clear: each audited in its transaction, each holding from the next send', async t => {
  const context = await setup(t)
  const { app } = context
  await attack(app)
  const suspectSend = await register(app, attacked[30] as string)
  t.equal(suspectSend.json().code, 'challenge_required', 'before any verdict: the suspect prefix asks a challenge')

  const blocked = await call(app, 'POST', '/api/admin/fraud/rules/', { destination: '+44 7911 12', verdict: 'block', reason: 'pumping, ticket 123' })
  t.equal(blocked.statusCode, 200)
  t.same(blocked.json(), { destination: '+44791112', kind: 'prefix', verdict: 'block', changed: true })
  const refused = await register(app, attacked[31] as string)
  t.equal(refused.statusCode, 400, 'a block: the next new number of the prefix is refused')
  t.equal(refused.json().code, 'phone_not_allowed')
  t.equal((await register(app, neighbours[0] as string)).statusCode, 200, 'another prefix of the country is not')

  const listed = (await call(app, 'GET', '/api/admin/fraud/')).json<{ destinations: Array<{ destination: string, verdict: unknown }>, rules: unknown[] }>()
  t.match(listed.destinations.find(d => d.destination === '+44791112')?.verdict, { verdict: 'block', reason: 'pumping, ticket 123', set_by: 'key:support', set_at: String })
  t.match(listed.rules, [{ destination: '+44791112', kind: 'prefix', verdict: 'block' }])

  const allowed = await call(app, 'POST', '/api/admin/fraud/rules/', { destination: 'p:+44791112', verdict: 'allow', reason: 'a customer\'s own range' })
  t.same(allowed.json(), { destination: '+44791112', kind: 'prefix', verdict: 'allow', changed: true })
  const through = await register(app, attacked[32] as string)
  t.equal(through.statusCode, 200, `an allow: the suspect prefix meets no challenge (${through.body})`)
  t.same((await call(app, 'POST', '/api/admin/fraud/rules/', { destination: '+44791112', verdict: 'allow', reason: 'again' })).json().changed, false, 'the same verdict again: unchanged')

  const cleared = await call(app, 'DELETE', '/api/admin/fraud/rules/%2B44791112/', { reason: 'over' })
  t.same(cleared.json(), { destination: '+44791112', kind: 'prefix', verdict: null, changed: true })
  t.equal((await register(app, attacked[33] as string)).json().code, 'challenge_required', 'cleared: the guard decides alone again')
  t.same((await call(app, 'DELETE', '/api/admin/fraud/rules/+44791112/')).json(), { destination: '+44791112', kind: 'prefix', verdict: null, changed: false }, 'nothing to clear; the + unescaped, no body')

  const country = await call(app, 'POST', '/api/admin/fraud/rules/', { destination: 'gg', verdict: 'block', reason: 'no customers there' })
  t.same(country.json(), { destination: 'GG', kind: 'country', verdict: 'block', changed: true })
  t.equal((await register(app, neighbours[1] as string)).json().code, 'phone_not_allowed', 'a blocked country')
  t.equal((await register(app, '+79123456702')).statusCode, 200, 'other countries are not')
  t.equal((await call(app, 'DELETE', '/api/admin/fraud/rules/GG/')).json().changed, true)

  const actions = await auditOf(app, 'fraud.')
  t.match(actions, [
    { action: 'fraud.block', actor: 'support', target_user_id: null, target_phone: null, details: { destination: '+44791112', kind: 'prefix', reason: 'pumping, ticket 123', changed: true } },
    { action: 'fraud.allow', details: { destination: '+44791112', reason: 'a customer\'s own range', changed: true, previous: 'block' } },
    { action: 'fraud.allow', details: { changed: false, previous: 'allow' } },
    { action: 'fraud.clear', details: { destination: '+44791112', reason: 'over', changed: true, previous: 'allow' } },
    { action: 'fraud.clear', details: { changed: false } },
    { action: 'fraud.block', details: { destination: 'GG', kind: 'country', changed: true } },
    { action: 'fraud.clear', details: { destination: 'GG', changed: true, previous: 'block' } }
  ])
  t.equal(actions.length, 7)
  t.same(await app.db.selectFrom('fraud_rules').selectAll().execute(), [])
})

t.test('bad input: clear errors, nothing set, nothing audited', async t => {
  const context = await setup(t)
  const { app } = context
  const cases: Array<[unknown, number, string]> = [
    [{ destination: '44791112', verdict: 'block', reason: 'x' }, 400, 'destination_invalid'],
    [{ destination: '+4', verdict: 'block', reason: 'x' }, 400, 'destination_invalid'],
    [{ destination: '+123456789012345', verdict: 'block', reason: 'x' }, 400, 'destination_invalid'],
    [{ destination: '+44 79x1', verdict: 'block', reason: 'x' }, 400, 'destination_invalid'],
    [{ destination: 'ZZ', verdict: 'block', reason: 'x' }, 400, 'destination_invalid'],
    [{ destination: 'GBR', verdict: 'block', reason: 'x' }, 400, 'destination_invalid'],
    [{ destination: 'GB', verdict: 'maybe', reason: 'x' }, 400, 'validation_error'],
    [{ destination: 'GB', verdict: 'block' }, 400, 'validation_error'],
    [{ destination: 'GB', verdict: 'block', reason: '   ' }, 400, 'reason_invalid']
  ]
  for (const [payload, status, code] of cases) {
    const answer = await call(app, 'POST', '/api/admin/fraud/rules/', payload)
    t.equal(answer.statusCode, status, JSON.stringify(payload))
    t.equal(answer.json().code, code, JSON.stringify(payload))
  }
  t.match((await call(app, 'POST', '/api/admin/fraud/rules/', { destination: 'ZZ', verdict: 'block', reason: 'x' })).json(), { detail: /number prefix .* country/ })
  t.equal((await call(app, 'DELETE', '/api/admin/fraud/rules/nonsense/')).json().code, 'destination_invalid')
  t.same(await app.db.selectFrom('fraud_rules').selectAll().execute(), [])
  t.same(await auditOf(app, 'fraud.'), [])
})

t.test('a verdict on a shorter prefix covers the range; the longest matching prefix holds', async t => {
  const { app } = await setup(t)
  t.equal((await call(app, 'POST', '/api/admin/fraud/rules/', { destination: '+447911', verdict: 'block', reason: 'the whole range' })).statusCode, 200)
  t.equal((await register(app, attacked[40] as string)).json().code, 'phone_not_allowed', 'a number of +44 7911 12 under a block of +44 7911')
  t.equal((await register(app, neighbours[0] as string)).json().code, 'phone_not_allowed', 'and of +44 7911 13')
  t.equal((await call(app, 'POST', '/api/admin/fraud/rules/', { destination: '+44791113', verdict: 'allow', reason: 'a customer\'s block of numbers' })).statusCode, 200)
  t.equal((await register(app, neighbours[1] as string)).statusCode, 200, 'the longer prefix\'s allow holds there')
  t.equal((await register(app, attacked[41] as string)).json().code, 'phone_not_allowed', 'the block holds elsewhere in the range')
})
