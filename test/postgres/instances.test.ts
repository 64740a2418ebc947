import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { adminQuery, createSchema, postgresOnly, schemaUrl } from '../helpers/database.js'
import { request, startInstance, type Instance } from '../helpers/instance.js'
import { startSmsSink, type SmsSink } from '../helpers/sms-sink.js'

// Two phonepass processes on one PostgreSQL, driven in parallel over real HTTP: every limit
// and one-time rule must hold across them as it does within one.
const runs = postgresOnly()

let instances: Instance[] = []
let sms: SmsSink
let schema = ''

t.before(async () => {
  if (!runs) return
  const created = await createSchema()
  schema = created.schema
  sms = await startSmsSink()
  // Both start at the same moment on an empty schema: migrations must run once.
  instances = await Promise.all([0, 1].map(async () => await startInstance(t, {
    DATABASE_URL: schemaUrl(schema),
    DATABASE_POOL_SIZE: '5',
    SMS_PROVIDER: 'webhook',
    SMS_WEBHOOK_URL: sms.url,
    // Every request comes from 127.0.0.1 on the real clock: the limits are raised so that each
    // test sees the one-time rules it checks (the limits themselves: test/postgres/limits.test.ts).
    LIMIT_CODES_PER_IP_HOUR: '1000',
    LIMIT_WRONG_CODES_PER_IP_HOUR: '1000',
    LIMIT_WRONG_CODES_PER_PHONE_DAY: '1000',
    LIMIT_WRONG_INVITES_PER_USER_HOUR: '1000',
    // On the real clock a reuse comes moments after the spending: with no grace it ends the
    // session at once, which is what the reuse test below checks across instances (the grace
    // itself is tested on this database in test/api/tokens and test/api/concurrency).
    REFRESH_REUSE_GRACE_SECONDS: '0'
  })))
  t.teardown(async () => {
    await Promise.all(instances.map(async instance => await instance.stop()))
    await sms.close()
    await created.drop()
  })
})

/** The n-th request goes to instance n mod 2. */
function on (n: number): string {
  return instances[n % instances.length]!.url
}

async function signIn (phone: string, n = 0): Promise<{ access: string, refresh: string, user: { id: number, invite_code: string } }> {
  const registered = await request(`${on(n)}/api/users/register/`, 'POST', { phone })
  if (registered.status !== 200) throw new Error(`register: ${registered.status} ${JSON.stringify(registered.body)}`)
  const verified = await request(`${on(n + 1)}/api/users/verify_code/`, 'POST', { phone, auth_code: sms.lastCode(phone) })
  if (verified.status !== 200) throw new Error(`verify: ${verified.status} ${JSON.stringify(verified.body)}`)
  return verified.body as never
}

function wrongCode (code: string): string {
  return String((Number(code) + 1) % 10_000).padStart(4, '0')
}

t.test('instances started together migrate once and both serve', async t => {
  const { rows } = await adminQuery(`select name from ${schema}.kysely_migration`)
  t.same(rows, Object.keys(migrations).map(name => ({ name })), 'each migration recorded once')
  const migrated = instances.filter(instance => instance.logs.some(entry => entry.msg === 'database migrated'))
  t.equal(migrated.length, 1, 'one instance applied it; the other waited for the lock and found nothing to do')
  for (const instance of instances) t.equal((await request(`${instance.url}/readyz`, 'GET')).status, 200)
})

t.test('30 wrong guesses split across both instances count at most 3', async t => {
  const phone = '+79123450030'
  await request(`${on(0)}/api/users/register/`, 'POST', { phone })
  const wrong = wrongCode(sms.lastCode(phone))
  const answers = await Promise.all(Array.from({ length: 30 }, async (_, n) => await request(`${on(n)}/api/users/verify_code/`, 'POST', { phone, auth_code: wrong })))
  t.equal(answers.filter(res => res.body.code === 'code_invalid').length, 3)
  t.equal(answers.filter(res => res.body.code === 'too_many_attempts').length, 27)
  const { rows } = await adminQuery(`select attempts from ${schema}.login_codes where phone = '${phone}'`)
  t.same(rows, [{ attempts: 3 }])
})

t.test('20 verifies of one code across both instances give one session', async t => {
  const phone = '+79123450020'
  await request(`${on(0)}/api/users/register/`, 'POST', { phone })
  const code = sms.lastCode(phone)
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, n) => await request(`${on(n)}/api/users/verify_code/`, 'POST', { phone, auth_code: code })))
  t.equal(answers.filter(res => res.status === 200).length, 1)
  t.notOk(answers.some(res => res.status >= 500), 'no 5xx')
  const { rows } = await adminQuery(`select count(*)::int as sessions from ${schema}.sessions join ${schema}.users on users.id = sessions.user_id where phone = '${phone}'`)
  t.same(rows, [{ sessions: 1 }])
})

t.test('20 activations across both instances give one', async t => {
  const me = await signIn('+79123451100')
  const inviters = await Promise.all(Array.from({ length: 20 }, async (_, n) => await signIn(`+7912345${String(1101 + n)}`, n)))
  const answers = await Promise.all(inviters.map(async (inviter, n) => await request(`${on(n)}/api/profile/`, 'PATCH', { invite_code: inviter.user.invite_code }, { authorization: `Bearer ${me.access}` })))
  t.equal(answers.filter(res => res.status === 200).length, 1)
  t.equal(answers.filter(res => res.body.code === 'invite_already_activated').length, 19)
})

t.test('two users taking each other\'s codes on different instances: not both succeed', async t => {
  for (let round = 0; round < 4; round++) {
    const a = await signIn(`+7912345${String(2000 + round * 2)}`)
    const b = await signIn(`+7912345${String(2001 + round * 2)}`)
    const answers = await Promise.all([
      request(`${on(0)}/api/profile/`, 'PATCH', { invite_code: b.user.invite_code }, { authorization: `Bearer ${a.access}` }),
      request(`${on(1)}/api/profile/`, 'PATCH', { invite_code: a.user.invite_code }, { authorization: `Bearer ${b.access}` })
    ])
    t.same(answers.map(res => res.status).sort(), [200, 409], `round ${round}`)
  }
})

t.test('a refresh token reused on the other instance is detected and ends the session', async t => {
  const first = await signIn('+79123453000')
  const rotated = await request(`${on(0)}/api/token/refresh/`, 'POST', { refresh: first.refresh })
  t.equal(rotated.status, 200)
  const reused = await request(`${on(1)}/api/token/refresh/`, 'POST', { refresh: first.refresh })
  t.equal(reused.status, 401, 'the spent token is refused on the other instance')
  const next = await request(`${on(0)}/api/token/refresh/`, 'POST', { refresh: rotated.body.refresh })
  t.equal(next.status, 401, 'and the session is revoked for everyone')
  const me = await request(`${on(1)}/api/users/me/`, 'GET', undefined, { authorization: `Bearer ${String(rotated.body.access)}` })
  t.equal(me.status, 401, 'its access token stops working at once, on both')
})

t.test('the send cooldown holds across instances', async t => {
  const phone = '+79123454000'
  t.equal((await request(`${on(0)}/api/users/register/`, 'POST', { phone })).status, 200)
  const again = await request(`${on(1)}/api/users/register/`, 'POST', { phone })
  t.equal(again.status, 429)
  t.equal(again.body.code, 'resend_too_soon')
  t.ok(Number(again.headers.get('retry-after')) > 0, 'with Retry-After')
  const parallelPhone = '+79123454001'
  const answers = await Promise.all(Array.from({ length: 10 }, async (_, n) => await request(`${on(n)}/api/users/register/`, 'POST', { phone: parallelPhone })))
  t.equal(answers.filter(res => res.status === 200).length, 1, 'ten at once across both: one code sent')
  t.equal(sms.messages.filter(message => message.to === parallelPhone).length, 1)
})
