import t from 'tap'
import { createSchema, postgresOnly, schemaUrl } from '../helpers/database.js'
import { request, startInstance, type Instance } from '../helpers/instance.js'
import { countryAttack, ordinary, prefixAttack, solve, type AltchaChallenge } from '../helpers/pumping.js'
import { startSmsSink, type SmsSink } from '../helpers/sms-sink.js'

// Issue 23's two SMS-pumping attacks against two phonepass processes on one PostgreSQL, over
// real HTTP, ten requests at a time spread over both, from 500 addresses (X-Forwarded-For from
// the trusted proxy), with ordinary sign-ins from other countries in between: the guard's
// counts are shared, so at most a tenth of each attack becomes SMS across the two, and every
// ordinary sign-in succeeds.
const runs = postgresOnly()

let instances: Instance[] = []
let sms: SmsSink

t.before(async () => {
  if (!runs) return
  const created = await createSchema()
  sms = await startSmsSink()
  instances = await Promise.all([0, 1].map(async () => await startInstance(t, {
    DATABASE_URL: schemaUrl(created.schema),
    DATABASE_POOL_SIZE: '5',
    SMS_PROVIDER: 'webhook',
    SMS_WEBHOOK_URL: sms.url,
    SMS_HOURLY_CAP: '200',
    TRUST_PROXY: '127.0.0.1',
    FRAUD_GUARD: 'enforce'
  })))
  t.teardown(async () => {
    await Promise.all(instances.map(async instance => await instance.stop()))
    await sms.close()
    await created.drop()
  })
})

let sent = 0
const on = (n: number) => instances[n % instances.length]?.url ?? ''
const from = (n: number) => ({ 'x-forwarded-for': `203.0.${Math.floor(n / 250) % 250}.${n % 250}` })

async function register (phone: string, n: number, extra: Record<string, string> = {}) {
  return await request(`${on(n)}/api/users/register/`, 'POST', { phone, ...extra }, from(n))
}

async function signIn (phone: string, n: number): Promise<string | undefined> {
  const asked = await register(phone, n)
  if (asked.status !== 200) return `${phone}: register ${asked.status} ${JSON.stringify(asked.body)}`
  const verified = await request(`${on(n + 1)}/api/users/verify_code/`, 'POST', { phone, auth_code: sms.lastCode(phone) }, from(n))
  return verified.status === 200 ? undefined : `${phone}: verify ${verified.status} ${JSON.stringify(verified.body)}`
}

t.test('both attacks across two instances, ten at a time: at most a tenth become SMS, every ordinary sign-in succeeds', async t => {
  const people = [...ordinary]
  for (const [label, attack] of [['one prefix', prefixAttack], ['one country', countryAttack]] as const) {
    const before = sms.messages.length
    const failures: string[] = []
    const statuses = new Map<number, number>()
    for (let i = 0; i < attack.length; i += 10) {
      const answers = await Promise.all(attack.slice(i, i + 10).map(async (phone, j) => await register(phone, sent++ + j)))
      for (const answer of answers) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
      const failure = await signIn(people.shift() as string, sent++)
      if (failure !== undefined) failures.push(failure)
    }
    const attackSet = new Set<string>(attack)
    const smsToAttack = sms.messages.slice(before).filter(message => attackSet.has(message.to)).length
    t.comment(`${label}: ${attack.length} requests, ${smsToAttack} SMS; answers ${JSON.stringify(Object.fromEntries(statuses))}`)
    t.ok(smsToAttack <= attack.length / 10, `${label}: at most a tenth of the attack became SMS (${smsToAttack})`)
    t.same(failures, [], `${label}: 50 ordinary sign-ins, all succeeded`)
    t.notOk(statuses.has(500), 'nothing failed')
  }
})

t.test('a person in the attacked prefix signs in with a solved challenge; 20 parallel uses of it over both instances give one send', async t => {
  const phone = prefixAttack[499] as string
  const asked = await register(phone, sent++)
  t.equal(asked.status, 403)
  t.equal(asked.body.code, 'challenge_required')
  const solution = await solve(asked.body.challenge as AltchaChallenge)
  const before = sms.messages.length
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => await register(phone, i, { challenge: solution })))
  t.equal(answers.filter(answer => answer.status === 200).length, 1, `one of 20 (${answers.map(answer => answer.status).join(' ')})`)
  t.equal(sms.messages.length - before, 1, 'one SMS')
  const verified = await request(`${on(1)}/api/users/verify_code/`, 'POST', { phone, auth_code: sms.lastCode(phone) }, from(7))
  t.equal(verified.status, 200, 'the person signs in')
})
