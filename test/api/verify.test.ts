import t from 'tap'
import { buildTestApp, post, signIn } from '../helpers/app.js'

const phone = '+79123456789'

async function requestCode (context: Awaited<ReturnType<typeof buildTestApp>>, number = phone): Promise<string> {
  const res = await post(context.app, '/api/users/register/', { phone: number })
  if (res.statusCode !== 200) throw new Error(res.body)
  return context.sms.lastCode(res.json().phone)
}

function wrong (code: string): string {
  return code === '0000' ? '1111' : '0000'
}

t.test('the right code signs in and creates the account once', async t => {
  const context = await buildTestApp(t)
  const code = await requestCode(context)
  const res = await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 900)
  t.equal(body.created, true)
  t.match(body.user, { id: Number, phone, invite_code: /^[2-9A-HJKMNP-Z]{6}$/, activated_invite_code: null, users_invited: [] })
  t.match(body.access, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  t.match(body.refresh, /^[\w-]{43}$/)

  context.clock.advance(61_000)
  const again = await post(context.app, '/api/users/verify_code/', { phone, auth_code: await requestCode(context) })
  t.equal(again.json().created, false, 'the second sign-in finds the account')
  t.equal(again.json().user.id, body.user.id)
})

t.test('formatted forms of one number reach one user', async t => {
  const context = await buildTestApp(t, { LIMIT_CODES_PER_PHONE_HOUR: '10' })
  const ids = new Set<number>()
  for (const form of ['+7 912 345-67-89', '8 (912) 345-67-89', '+79123456789', '7 912 3456789']) {
    context.clock.advance(61_000)
    const res = await post(context.app, '/api/users/verify_code/', { phone: form, auth_code: await requestCode(context, form) })
    t.equal(res.statusCode, 200, form)
    ids.add(res.json().user.id)
  }
  t.equal(ids.size, 1)
  const count = await context.app.db.selectFrom('users').select(eb => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  t.equal(Number(count.n), 1)
})

t.test('a wrong code is 400 with attempts_left; after 3 tries the code is dead (429)', async t => {
  const context = await buildTestApp(t)
  const code = await requestCode(context)
  for (const left of [2, 1, 0]) {
    const res = await post(context.app, '/api/users/verify_code/', { phone, auth_code: wrong(code) })
    t.equal(res.statusCode, 400)
    t.match(res.json(), { code: 'code_invalid', attempts_left: left })
  }
  const dead = await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })
  t.equal(dead.statusCode, 429, 'even the right code is refused once the tries are used')
  t.equal(dead.json().code, 'too_many_attempts')
  t.ok(Number(dead.headers['retry-after']) > 0)
  context.clock.advance(61_000)
  const fresh = await requestCode(context)
  t.equal((await post(context.app, '/api/users/verify_code/', { phone, auth_code: fresh })).statusCode, 200, 'a new code works')
})

t.test('a code expires after 5 minutes', async t => {
  const context = await buildTestApp(t)
  const code = await requestCode(context)
  context.clock.advance(299_000)
  t.equal((await post(context.app, '/api/users/verify_code/', { phone, auth_code: wrong(code) })).statusCode, 400)
  context.clock.advance(1_000)
  const res = await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'code_expired')
})

t.test('a code works once', async t => {
  const context = await buildTestApp(t)
  const code = await requestCode(context)
  t.equal((await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })).statusCode, 200)
  const again = await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })
  t.equal(again.statusCode, 400)
  t.equal(again.json().code, 'code_not_found')
})

t.test('a new code replaces the old one', async t => {
  const context = await buildTestApp(t)
  const first = await requestCode(context)
  context.clock.advance(61_000)
  let second = await requestCode(context)
  while (second === first) { context.clock.advance(61_000); second = await requestCode(context) }
  const old = await post(context.app, '/api/users/verify_code/', { phone, auth_code: first })
  t.equal(old.statusCode, 400)
  t.equal((await post(context.app, '/api/users/verify_code/', { phone, auth_code: second })).statusCode, 200)
})

t.test('no code asked for, or a malformed code, is a 400 that costs no try', async t => {
  const context = await buildTestApp(t)
  const none = await post(context.app, '/api/users/verify_code/', { phone, auth_code: '1234' })
  t.equal(none.statusCode, 400)
  t.equal(none.json().code, 'code_not_found')
  const code = await requestCode(context)
  for (const malformed of ['12', '12345', 'abcd', '１２３４']) {
    const res = await post(context.app, '/api/users/verify_code/', { phone, auth_code: malformed })
    t.equal(res.statusCode, 400)
    t.equal(res.json().code, 'code_invalid')
  }
  const missing = await post(context.app, '/api/users/verify_code/', { phone })
  t.equal(missing.statusCode, 400)
  t.same(missing.json().errors, { auth_code: ['This field is required.'] })
  t.equal((await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })).statusCode, 200)
})

t.test('30 parallel wrong guesses count at most 3 tries', async t => {
  const context = await buildTestApp(t)
  const code = await requestCode(context)
  const guesses = Array.from({ length: 30 }, (_, i) => String(i).padStart(4, '0')).filter(guess => guess !== code).slice(0, 30)
  const answers = await Promise.all(guesses.map(async guess => await post(context.app, '/api/users/verify_code/', { phone, auth_code: guess })))
  t.equal(answers.filter(res => res.statusCode === 400).length, 3, 'three tries were counted')
  t.equal(answers.filter(res => res.statusCode === 429).length, guesses.length - 3, 'the rest were refused')
  const row = await context.app.db.selectFrom('login_codes').select('attempts').executeTakeFirstOrThrow()
  t.equal(row.attempts, 3)
})

t.test('20 parallel verifies of one right code give one session', async t => {
  const context = await buildTestApp(t, { OTP_MAX_ATTEMPTS: '10' })
  const code = await requestCode(context)
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })))
  t.equal(answers.filter(res => res.statusCode === 200).length, 1)
  t.ok(answers.every(res => res.statusCode === 200 || res.statusCode === 400 || res.statusCode === 429), 'the others are refused')
  const sessions = await context.app.db.selectFrom('sessions').selectAll().execute()
  t.equal(sessions.length, 1)
  const users = await context.app.db.selectFrom('users').selectAll().execute()
  t.equal(users.length, 1)
})

t.test('parallel first sign-ins of different phones get distinct invite codes', async t => {
  const context = await buildTestApp(t)
  const phones = Array.from({ length: 10 }, (_, i) => `+7912345670${i}`)
  const signedIn = await Promise.all(phones.map(async p => await signIn(context, p)))
  t.equal(new Set(signedIn.map(s => s.user.invite_code)).size, 10)
})
