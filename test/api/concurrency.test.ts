import t from 'tap'
import { bearer, buildTestApp, post, signIn, type TestContext } from '../helpers/app.js'

// Every one-time and counting rule, fired many times at once at one app. In the PostgreSQL
// pass the requests run on separate pooled connections under READ COMMITTED.

async function patchInvite (context: TestContext, access: string, inviteCode: string) {
  return await context.app.inject({ method: 'PATCH', url: '/api/profile/', payload: { invite_code: inviteCode }, headers: bearer(access) })
}

t.test('30 parallel wrong guesses count at most 3 tries', async t => {
  // The phone's and the IP's wrong-code budgets are raised so that every guess reaches the code.
  const context = await buildTestApp(t, { LIMIT_WRONG_CODES_PER_PHONE_DAY: '1000', LIMIT_WRONG_CODES_PER_IP_HOUR: '1000' })
  const phone = '+79123456789'
  await post(context.app, '/api/users/register/', { phone })
  const code = context.sms.lastCode(phone)
  const wrong = String((Number(code) + 1) % 10_000).padStart(4, '0')
  const answers = await Promise.all(Array.from({ length: 30 }, async () => await post(context.app, '/api/users/verify_code/', { phone, auth_code: wrong })))
  t.equal(answers.filter(res => res.json().code === 'code_invalid').length, 3, 'three tries were counted and compared')
  t.equal(answers.filter(res => res.json().code === 'too_many_attempts').length, 27)
  t.notOk(answers.some(res => res.statusCode >= 500), 'no 5xx')
  const right = await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })
  t.equal(right.json().code, 'too_many_attempts', 'the right code no longer works after three wrong ones')
})

t.test('20 parallel verifies of one code give one session', async t => {
  const context = await buildTestApp(t)
  const phone = '+79123456789'
  await post(context.app, '/api/users/register/', { phone })
  const code = context.sms.lastCode(phone)
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })))
  t.equal(answers.filter(res => res.statusCode === 200).length, 1)
  t.notOk(answers.some(res => res.statusCode >= 500), 'no 5xx')
  t.same(await context.app.db.selectFrom('users').select('phone').execute(), [{ phone }], 'one account')
  t.equal((await context.app.db.selectFrom('sessions').select('id').execute()).length, 1, 'one session')
})

t.test('20 parallel activations by one user give one', async t => {
  // Tries at invite codes are counted before the lookup: 20 at once are 20 in flight.
  const context = await buildTestApp(t, { LIMIT_CODES_PER_IP_HOUR: '1000', LIMIT_WRONG_INVITES_PER_USER_HOUR: '100' })
  const inviters = await Promise.all(Array.from({ length: 20 }, async (_, i) => await signIn(context, `+7912345${String(6000 + i)}`)))
  const me = await signIn(context, '+79123450001')
  const answers = await Promise.all(inviters.map(async inviter => await patchInvite(context, me.access, inviter.user.invite_code)))
  t.equal(answers.filter(res => res.statusCode === 200).length, 1)
  t.equal(answers.filter(res => res.json().code === 'invite_already_activated').length, 19)
  const invited = await context.app.db.selectFrom('users').select('invited_by').where('phone', '=', '+79123450001').executeTakeFirstOrThrow()
  t.not(invited.invited_by, null)
})

t.test('two users taking each other\'s codes at the same moment: not both succeed', async t => {
  const context = await buildTestApp(t, { LIMIT_CODES_PER_IP_HOUR: '1000' })
  for (let round = 0; round < 8; round++) {
    const a = await signIn(context, `+7912345${String(1000 + round * 2)}`)
    const b = await signIn(context, `+7912345${String(1001 + round * 2)}`)
    const [ab, ba] = await Promise.all([patchInvite(context, a.access, b.user.invite_code), patchInvite(context, b.access, a.user.invite_code)])
    t.same([ab.statusCode, ba.statusCode].sort(), [200, 409], `round ${round}: one succeeds, the other is a cycle`)
    t.ok([ab, ba].some(res => res.json().code === 'invite_cycle'), `round ${round}: ${ab.body} ${ba.body}`)
  }
})

t.test('three users closing a ring at the same moment: the graph stays a forest', async t => {
  const context = await buildTestApp(t, { LIMIT_CODES_PER_IP_HOUR: '1000' })
  for (let round = 0; round < 5; round++) {
    const people = await Promise.all([0, 1, 2].map(async i => await signIn(context, `+7912346${String(1000 + round * 3 + i)}`)))
    const answers = await Promise.all(people.map(async (person, i) => await patchInvite(context, person.access, people[(i + 1) % 3]!.user.invite_code)))
    t.equal(answers.filter(res => res.statusCode === 200).length, 2, `round ${round}: two of three links are made`)
    t.equal(answers.filter(res => res.json().code === 'invite_cycle').length, 1, `round ${round}: the third would close the ring`)
  }
})

t.test('20 parallel refreshes with one token (an app refreshing from many requests): one new pair, and the session kept for it', async t => {
  const context = await buildTestApp(t)
  const signedIn = await signIn(context, '+79123456789')
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await post(context.app, '/api/token/refresh/', { refresh: signedIn.refresh })))
  const fresh = answers.filter(res => res.statusCode === 200)
  t.equal(fresh.length, 1, 'the token is spent once')
  t.equal(answers.filter(res => res.statusCode === 401).length, 19)
  const winner = fresh[0]!.json<{ access: string, refresh: string }>()
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(winner.access) })).statusCode, 200, 'the winner stays signed in')
  const next = await post(context.app, '/api/token/refresh/', { refresh: winner.refresh })
  t.equal(next.statusCode, 200, 'and refreshes again')
})

t.test('20 parallel refreshes with a token spent longer ago than the grace: all refused, the session revoked once', async t => {
  const context = await buildTestApp(t)
  const signedIn = await signIn(context, '+79123456789')
  const rotated = (await post(context.app, '/api/token/refresh/', { refresh: signedIn.refresh })).json<{ access: string, refresh: string }>()
  context.clock.advance(60_000)
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await post(context.app, '/api/token/refresh/', { refresh: signedIn.refresh })))
  t.equal(answers.filter(res => res.statusCode === 401).length, 20)
  t.equal((await post(context.app, '/api/token/refresh/', { refresh: rotated.refresh })).statusCode, 401, 'the newest token of the session is dead too')
})
