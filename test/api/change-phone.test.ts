import t from 'tap'
import { bearer, buildRecordingApp, post, signIn, type TestContext } from '../helpers/app.js'

// Changing one's number through the API, on both databases: a fresh code to the current number
// proves the change (step one, which then sends a code to the new number), the new number's code
// moves the account (step two); 409 when the number has an account; the old number is told;
// every other session ends. A stolen access token alone cannot move the account.

const raceNumbers = Array.from({ length: 6 }, (_, i) => `+1555010020${i}`)
const fixedCodeNumbers = ['+15550100001', '+15550100301', '+15550100302', '+15550100303', ...raceNumbers]

async function setup (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> = {}): Promise<TestContext> {
  return await buildRecordingApp(t, { TEST_PHONE_NUMBERS: fixedCodeNumbers.map(phone => `${phone}=1234`).join(','), ...env })
}

/** A fresh code to the account's own number, asked for with register as for a deletion. */
async function currentCode (context: TestContext, phone: string): Promise<string> {
  context.clock.advance(61_000)
  const asked = await post(context.app, '/api/users/register/', { phone })
  if (asked.statusCode !== 200) throw new Error(`register answered ${asked.statusCode}: ${asked.body}`)
  return context.sms.lastCode(phone)
}

const change = async (context: TestContext, access: string, phone: string, code: string) =>
  await context.app.inject({ method: 'POST', url: '/api/users/me/phone/', headers: bearer(access), payload: { phone, auth_code: code } })
const confirm = async (context: TestContext, access: string, phone: string, code: string) =>
  await context.app.inject({ method: 'POST', url: '/api/users/me/phone/verify/', headers: bearer(access), payload: { phone, auth_code: code } })
const me = async (context: TestContext, access: string) =>
  await context.app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(access) })
const phoneOf = async (context: TestContext, userId: number) =>
  (await context.app.db.selectFrom('users').select('phone').where('id', '=', userId).executeTakeFirstOrThrow()).phone
const otherCode = (code: string) => code === '0000' ? '1111' : '0000'

t.test('the owner with both codes moves; the old number is told and free; every other session ends', async t => {
  const context = await setup(t)
  const [oldPhone, newPhone] = ['+79123478001', '+79123478002']
  const alice = await signIn(context, oldPhone)
  context.clock.advance(61_000)
  const otherDevice = await signIn(context, oldPhone)
  const asked = await change(context, alice.access, newPhone, await currentCode(context, oldPhone))
  t.equal(asked.statusCode, 200)
  t.same(Object.keys(asked.json()).sort(), ['channel', 'channels', 'detail', 'expires_in', 'phone', 'resend_in'])
  t.equal(context.sms.messages.at(-1)?.to, newPhone)
  const moved = await confirm(context, alice.access, newPhone, context.sms.lastCode(newPhone))
  t.equal(moved.statusCode, 200)
  t.match(moved.json(), { id: alice.user.id, phone: newPhone, invite_code: alice.user.invite_code })
  const notice = context.sms.messages.at(-1)
  t.equal(notice?.to, oldPhone)
  t.match(notice?.body, `your account has moved from this number to ${newPhone}`)
  t.equal((await me(context, alice.access)).json().phone, newPhone, 'this session stays signed in')
  t.equal((await me(context, otherDevice.access)).statusCode, 401, 'another session\'s access token ends')
  t.equal((await post(context.app, '/api/token/refresh/', { refresh: otherDevice.refresh })).statusCode, 401, 'and its refresh token')
  const events = await context.app.db.selectFrom('webhook_events').select('payload').where('type', '=', 'user.phone_changed').execute()
  t.same(events.map(e => (JSON.parse(e.payload) as { data: unknown }).data), [{ id: alice.user.id, phone: newPhone, previous_phone: oldPhone }])
  t.equal(await context.app.db.selectFrom('phone_changes').select('user_id').executeTakeFirst(), undefined, 'the proof is spent')
  t.equal((await confirm(context, alice.access, newPhone, context.sms.lastCode(newPhone))).statusCode, 403, 'one proof, one move')

  context.clock.advance(3_600_000)
  const viaNew = await signIn(context, newPhone)
  t.equal(viaNew.user.id, alice.user.id, 'the new number signs in to the account')
  const viaOld = await signIn(context, oldPhone)
  t.not(viaOld.user.id, alice.user.id, 'the old number is a new account')
})

t.test('a stolen access token alone cannot move the account (the takeover of the second review)', async t => {
  const context = await setup(t)
  const [victimPhone, attackerPhone] = ['+79123478101', '+79123478102']
  const victim = await signIn(context, victimPhone)
  // Step one without a code, with a guess, and with a code the attacker got for their own number.
  const noCode = await context.app.inject({ method: 'POST', url: '/api/users/me/phone/', headers: bearer(victim.access), payload: { phone: attackerPhone } })
  t.equal(noCode.statusCode, 400)
  t.match(noCode.json(), { code: 'validation_error', errors: { auth_code: [String] } })
  const guessed = await change(context, victim.access, attackerPhone, '0000')
  t.equal(guessed.statusCode, 400)
  t.match(guessed.json().code, /^code_(invalid|not_found)$/)
  t.equal((await post(context.app, '/api/users/register/', { phone: attackerPhone })).statusCode, 200)
  const attackersCode = context.sms.lastCode(attackerPhone)
  t.equal((await change(context, victim.access, attackerPhone, attackersCode)).statusCode, 400, 'the attacker\'s own code proves nothing')
  t.equal(context.sms.messages.filter(message => message.to === attackerPhone).length, 1, 'no code went to the attacker\'s number but the one they asked for themselves')
  // Step two straight away, with the attacker's own number's code: no proof, and the code is not spent.
  const skipped = await confirm(context, victim.access, attackerPhone, attackersCode)
  t.equal(skipped.statusCode, 403)
  t.match(skipped.json(), { code: 'phone_change_unproven', detail: /current number/ })
  t.equal(await phoneOf(context, victim.user.id), victimPhone, 'the account stays on its number')
  const attackerOwn = await post(context.app, '/api/users/verify_code/', { phone: attackerPhone, auth_code: attackersCode })
  t.equal(attackerOwn.statusCode, 200, 'the attacker\'s code was not spent by the refused move')
  t.not(attackerOwn.json().user.id, victim.user.id, 'the attacker\'s number is an account of its own')
  t.equal((await me(context, victim.access)).json().phone, victimPhone)
})

t.test('a proof is for one number, lasts as long as a code, and is withdrawn with the code given back when the new number\'s send is refused', async t => {
  const context = await setup(t)
  const alice = await signIn(context, '+79123478201')
  t.match((await change(context, alice.access, '+79123478201', '1234')).json(), { code: 'phone_unchanged' })
  // The new number's cooldown refuses its code: the current number's code stays usable.
  const code = await currentCode(context, '+79123478201')
  t.equal((await post(context.app, '/api/users/register/', { phone: '+79123478202' })).statusCode, 200)
  const refused = await change(context, alice.access, '+79123478202', code)
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().code, 'resend_too_soon')
  t.equal(await context.app.db.selectFrom('phone_changes').select('user_id').executeTakeFirst(), undefined, 'no proof is left')
  context.clock.advance(61_000)
  t.equal((await change(context, alice.access, '+79123478202', code)).statusCode, 200, 'the same current code proves the change once the send goes')
  const newCode = context.sms.lastCode('+79123478202')
  t.equal((await confirm(context, alice.access, '+79123478203', newCode)).statusCode, 403, 'the proof is for the number it was given for')
  t.equal((await change(context, alice.access, '+79123478204', code)).statusCode, 400, 'the current code is spent')
  context.clock.advance(context.config.otp.ttlSeconds * 1000)
  const late = await confirm(context, alice.access, '+79123478202', newCode)
  t.equal(late.statusCode, 403, 'an expired proof moves nothing')
  t.equal(late.json().code, 'phone_change_unproven')
  t.equal(await phoneOf(context, alice.user.id), '+79123478201')
})

t.test('refusals: a number with an account (409, told only with its code), a wrong code, no token', async t => {
  const context = await setup(t)
  const alice = await signIn(context, '+79123478011')
  await signIn(context, '+79123478012')
  const asked = await change(context, alice.access, '+79123478012', await currentCode(context, '+79123478011'))
  t.equal(asked.statusCode, 200, 'step one says nothing about the number\'s account')
  const code = context.sms.lastCode('+79123478012')
  const wrong = await confirm(context, alice.access, '+79123478012', otherCode(code))
  t.equal(wrong.statusCode, 400)
  t.equal(wrong.json().code, 'code_invalid')
  const taken = await confirm(context, alice.access, '+79123478012', code)
  t.equal(taken.statusCode, 409)
  t.match(taken.json(), { code: 'phone_taken', errors: { phone: [/already has an account/] } })
  t.equal((await me(context, alice.access)).json().phone, '+79123478011')
  t.equal((await change(context, alice.access, 'not a phone', '1234')).statusCode, 400)
  t.equal((await context.app.inject({ method: 'POST', url: '/api/users/me/phone/', payload: { phone: '+79123478013', auth_code: '1234' } })).statusCode, 401)
  t.equal((await context.app.inject({ method: 'POST', url: '/api/users/me/phone/verify/', payload: { phone: '+79123478013', auth_code: '1234' } })).statusCode, 401)
})

t.test('race: two changes at once with one current code give one proof, and two moves at once give one', async t => {
  const context = await setup(t)
  const owner = '+15550100301'
  t.equal((await post(context.app, '/api/users/register/', { phone: owner })).statusCode, 200)
  const alice = (await post(context.app, '/api/users/verify_code/', { phone: owner, auth_code: '1234' })).json<{ access: string, user: { id: number } }>()
  context.clock.advance(61_000)
  t.equal((await post(context.app, '/api/users/register/', { phone: owner })).statusCode, 200, 'a fresh code to the current number')
  const targets = ['+15550100302', '+15550100303']
  // A test number's code is fixed, so both requests hold the right current code; it is spent once.
  const proofs = await Promise.all(targets.map(async target => await change(context, alice.access, target, '1234')))
  t.same(proofs.map(r => r.statusCode).sort(), [200, 400], `one proof of the two (${proofs.map(r => r.statusCode).join('/')})`)
  const moves = await Promise.all([...targets, ...targets, ...targets, ...targets].map(async target => await confirm(context, alice.access, target, '1234')))
  const won = moves.filter(r => r.statusCode === 200)
  t.equal(won.length, 1, `one move of ${moves.length} (${moves.map(r => r.statusCode).join(' ')})`)
  t.ok(moves.every(r => [200, 400, 403, 429].includes(r.statusCode)), 'no 500')
  t.equal(await phoneOf(context, alice.user.id), won[0]?.json().phone)
  t.ok(targets.includes(await phoneOf(context, alice.user.id)))
})

t.test('race: a change of number against a sign-up of the same new number', async t => {
  const context = await setup(t)
  const seen: string[] = []
  for (const [round, target] of raceNumbers.entries()) {
    const phone = `+7912347901${round}`
    const alice = await signIn(context, phone)
    t.equal((await change(context, alice.access, target, await currentCode(context, phone))).statusCode, 200)
    const [moved, signedUp] = await Promise.all([
      confirm(context, alice.access, target, '1234'),
      (async () => {
        for (let turn = 0; turn < (round % 3) * 3; turn++) await new Promise(resolve => setImmediate(resolve))
        return await post(context.app, '/api/users/verify_code/', { phone: target, auth_code: '1234' })
      })()
    ])
    seen.push(`${moved.statusCode}/${signedUp.statusCode}`)
    const holders = await context.app.db.selectFrom('users').select('id').where('phone', '=', target).execute()
    t.equal(holders.length, 1, `round ${round}: one account has the number`)
    t.ok((moved.statusCode === 200) !== (signedUp.statusCode === 200), `round ${round}: exactly one wins (${moved.statusCode}/${signedUp.statusCode})`)
    t.equal(Number(holders[0]?.id) === alice.user.id, moved.statusCode === 200, 'the winner holds it')
    t.ok([200, 400, 409].includes(moved.statusCode) && [200, 400].includes(signedUp.statusCode), 'no 500')
    if (signedUp.statusCode === 200) {
      t.equal((await change(context, alice.access, target, await currentCode(context, phone))).statusCode, 200)
      const after = await confirm(context, alice.access, target, '1234')
      t.equal(after.statusCode, 409, 'after the sign-up, the number has an account')
    }
  }
  t.comment(`change/sign-up outcomes: ${seen.join(' ')}`)
})

t.test('moving away does not give the old number a second activation', async t => {
  const context = await setup(t)
  const inviter = await signIn(context, '+79123478021')
  const other = await signIn(context, '+79123478022')
  const alice = await signIn(context, '+79123478023')
  const activate = async (access: string, code: string) => await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(access), payload: { invite_code: code } })
  t.equal((await activate(alice.access, inviter.user.invite_code)).statusCode, 200)
  t.equal((await change(context, alice.access, '+79123478024', await currentCode(context, '+79123478023'))).statusCode, 200)
  t.equal((await confirm(context, alice.access, '+79123478024', context.sms.lastCode('+79123478024'))).statusCode, 200)
  t.equal((await me(context, alice.access)).json().activated_invite_code, inviter.user.invite_code, 'the account keeps its activation')
  context.clock.advance(61_000)
  const fresh = await signIn(context, '+79123478023')
  t.not(fresh.user.id, alice.user.id)
  const refused = await activate(fresh.access, other.user.invite_code)
  t.equal(refused.statusCode, 409)
  t.equal(refused.json().code, 'invite_already_activated')
})

t.test('a deletion withdraws a pending proof', async t => {
  const context = await setup(t)
  const alice = await signIn(context, '+79123478031')
  t.equal((await change(context, alice.access, '+79123478032', await currentCode(context, '+79123478031'))).statusCode, 200)
  t.ok(await context.app.db.selectFrom('phone_changes').select('user_id').executeTakeFirst(), 'a proof is pending')
  const deleted = await context.app.inject({ method: 'DELETE', url: '/api/users/me/', headers: bearer(alice.access), payload: { auth_code: await currentCode(context, '+79123478031') } })
  t.equal(deleted.statusCode, 204)
  t.equal(await context.app.db.selectFrom('phone_changes').select('user_id').executeTakeFirst(), undefined, 'nothing of the new number is kept')
})
