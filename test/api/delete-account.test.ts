import t from 'tap'
import { bearer, buildRecordingApp, buildTestApp, post, signIn, type TestContext } from '../helpers/app.js'

// DELETE /api/users/me/ on both databases: proven by a fresh code, erased at once, the invite
// code kept reserved, the phone free for a new account, and the races with an activation of
// the deleted account's code and with a refresh.

async function setup (t: { teardown: (fn: () => unknown) => void }): Promise<TestContext> {
  return await buildRecordingApp(t, { LIMIT_CODES_PER_PHONE_HOUR: '100', LIMIT_CODES_PER_PHONE_DAY: '100' })
}

/** Runs `action` after some turns of the event loop, so racing requests meet at different steps. */
async function after<T> (turns: number, action: () => Promise<T>): Promise<T> {
  for (let turn = 0; turn < turns; turn++) await new Promise(resolve => setImmediate(resolve))
  return await action()
}

/** A fresh code for the phone, as the app asks for one before deleting. */
async function freshCode (context: TestContext, phone: string): Promise<string> {
  context.clock.advance(61_000)
  const sent = await post(context.app, '/api/users/register/', { phone })
  if (sent.statusCode !== 200) throw new Error(`register answered ${sent.statusCode}: ${sent.body}`)
  return context.sms.lastCode(phone)
}

async function deleteAccount (context: TestContext, access: string, body: Record<string, unknown>) {
  return await context.app.inject({ method: 'DELETE', url: '/api/users/me/', headers: bearer(access), payload: body })
}

async function me (context: TestContext, access: string) {
  return await context.app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(access) })
}

async function rowsOf (context: TestContext, userId: number, phone: string) {
  const db = context.app.db
  const sessions = await db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()
  const tokens = await db.selectFrom('refresh_tokens').select('token_hash')
    .where('session_id', 'in', sessions.length === 0 ? [''] : sessions.map(s => s.id)).execute()
  const allTokens = await db.selectFrom('refresh_tokens').innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
    .select('token_hash').where('sessions.user_id', '=', userId).execute()
  const codes = await db.selectFrom('login_codes').select('phone').where('phone', '=', phone).execute()
  return { sessions: sessions.length, tokens: tokens.length + allTokens.length, codes: codes.length }
}

t.test('a fresh code deletes the account: 204, and everything about the person is gone at once', async t => {
  const context = await setup(t)
  const phone = '+79123470001'
  const first = await signIn(context, phone)
  context.clock.advance(61_000)
  const second = await signIn(context, phone)
  const code = await freshCode(context, phone)

  const deleted = await deleteAccount(context, first.access, { auth_code: code })
  t.equal(deleted.statusCode, 204)
  t.equal(deleted.body, '')
  t.equal((await me(context, first.access)).statusCode, 401, 'the token of the deleting session')
  t.equal((await me(context, second.access)).statusCode, 401, 'another session\'s token')
  t.equal((await post(context.app, '/api/token/refresh/', { refresh: second.refresh })).statusCode, 401)
  t.same(await rowsOf(context, first.user.id, phone), { sessions: 0, tokens: 0, codes: 0 })
  const row = await context.app.db.selectFrom('users').selectAll().where('id', '=', first.user.id).executeTakeFirstOrThrow()
  t.match(row, { phone: `#${first.user.id}`, invite_code: first.user.invite_code, deleted_at: context.clock.now(), invited_by: null })
  const events = await context.app.db.selectFrom('webhook_events').select(['type', 'payload']).where('type', '=', 'user.deleted').execute()
  t.same(events.map(e => (JSON.parse(e.payload) as { data: unknown }).data), [{ id: first.user.id, phone }])

  // The phone signs up again: a new account.
  const again = await signIn(context, phone)
  t.not(again.user.id, first.user.id)
  t.not(again.user.invite_code, first.user.invite_code)
  t.equal(again.user.activated_invite_code, null)
})

t.test('no code, a wrong code, a code never asked for: the usual refusals, nothing deleted', async t => {
  const context = await setup(t)
  const phone = '+79123470011'
  const alice = await signIn(context, phone)
  const missing = await deleteAccount(context, alice.access, {})
  t.equal(missing.statusCode, 400)
  t.match(missing.json(), { code: 'validation_error', errors: { auth_code: ['This field is required.'] } })
  const notAsked = await deleteAccount(context, alice.access, { auth_code: '1234' })
  t.equal(notAsked.statusCode, 400)
  t.equal(notAsked.json().code, 'code_not_found', 'the sign-in\'s code is spent: a fresh one is needed')
  const code = await freshCode(context, phone)
  const wrong = await deleteAccount(context, alice.access, { auth_code: code === '0000' ? '1111' : '0000' })
  t.equal(wrong.statusCode, 400)
  t.match(wrong.json(), { code: 'code_invalid', attempts_left: 2 })
  const noToken = await context.app.inject({ method: 'DELETE', url: '/api/users/me/', payload: { auth_code: code } })
  t.equal(noToken.statusCode, 401)
  t.equal((await me(context, alice.access)).statusCode, 200, 'still there')
  t.equal((await deleteAccount(context, alice.access, { auth_code: code })).statusCode, 204, 'the right code still works')
})

t.test('invite codes: kept reserved and on the invitees\' profiles; gone from the inviter\'s list; no second activation for the phone', async t => {
  const context = await setup(t)
  const inviter = await signIn(context, '+79123470021')
  const alice = await signIn(context, '+79123470022')
  const bob = await signIn(context, '+79123470023')
  const carol = await signIn(context, '+79123470024')
  const activate = async (access: string, code: string) => await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(access), payload: { invite_code: code } })
  t.equal((await activate(alice.access, inviter.user.invite_code)).statusCode, 200)
  t.equal((await activate(bob.access, alice.user.invite_code)).statusCode, 200)
  t.match((await me(context, inviter.access)).json(), { users_invited: ['+79123470022'], users_invited_count: 1 })

  t.equal((await deleteAccount(context, alice.access, { auth_code: await freshCode(context, '+79123470022') })).statusCode, 204)
  t.match((await me(context, inviter.access)).json(), { users_invited: [], users_invited_count: 0 }, 'the deleted person leaves the inviter\'s list and count')
  t.equal((await me(context, bob.access)).json().activated_invite_code, alice.user.invite_code, 'the code stays on the profile of who joined with it')
  const late = await activate(carol.access, alice.user.invite_code)
  t.equal(late.statusCode, 404)
  t.equal(late.json().code, 'invite_not_found', 'no one joins with a deleted account\'s code')
  const reuse = await context.app.db.insertInto('users').values({ phone: '+79123470029', invite_code: alice.user.invite_code, created_at: 1 })
    .onConflict(oc => oc.doNothing()).returning('id').executeTakeFirst()
  t.equal(reuse, undefined, 'the code stays reserved: never issued again')

  // The phone's new account may not activate another code; a phone whose deleted account had not activated may.
  const aliceAgain = await signIn(context, '+79123470022')
  const refused = await activate(aliceAgain.access, carol.user.invite_code)
  t.equal(refused.statusCode, 409)
  t.equal(refused.json().code, 'invite_already_activated')
  const stored = await context.app.db.selectFrom('deleted_phones').selectAll().execute()
  t.same(stored.map(row => Number(row.had_activated)), [1])
  t.match(stored[0]?.phone_hash, /^[0-9a-f]{64}$/, 'a keyed hash, not the phone')
  t.equal((await deleteAccount(context, carol.access, { auth_code: await freshCode(context, '+79123470024') })).statusCode, 204)
  const carolAgain = await signIn(context, '+79123470024')
  t.equal((await activate(carolAgain.access, inviter.user.invite_code)).statusCode, 200)
})

t.test('race: deleting an account while someone activates its code', async t => {
  const context = await setup(t)
  const seen = new Map<number, number>()
  for (let round = 0; round < 8; round++) {
    const owner = await signIn(context, `+7912347100${round}`)
    const joiner = await signIn(context, `+7912347200${round}`)
    const code = await freshCode(context, `+7912347100${round}`)
    // Odd rounds hold the deletion back, even rounds the activation, by a few turns more each time.
    const [deleted, activated] = await Promise.all([
      after(round % 2 === 1 ? round * 3 : 0, async () => await deleteAccount(context, owner.access, { auth_code: code })),
      after(round % 2 === 0 ? round * 3 : 0, async () => await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(joiner.access), payload: { invite_code: owner.user.invite_code } }))
    ])
    t.equal(deleted.statusCode, 204)
    seen.set(activated.statusCode, (seen.get(activated.statusCode) ?? 0) + 1)
    const profile = (await me(context, joiner.access)).json()
    if (activated.statusCode === 200) {
      t.equal(profile.activated_invite_code, owner.user.invite_code, 'landed first: it shows')
    } else {
      t.equal(activated.statusCode, 404, `round ${round}: landed after: not found`)
      t.equal(profile.activated_invite_code, null)
    }
    const row = await context.app.db.selectFrom('users').select(['invited_by']).where('id', '=', joiner.user.id).executeTakeFirstOrThrow()
    t.equal(row.invited_by === null ? null : Number(row.invited_by), activated.statusCode === 200 ? owner.user.id : null, 'nothing dangles')
  }
  t.comment(`activation outcomes: ${JSON.stringify([...seen])}`)
})

t.test('race: deleting an account while its app refreshes', async t => {
  const context = await setup(t)
  const seen = new Map<number, number>()
  for (let round = 0; round < 6; round++) {
    const phone = `+7912347300${round}`
    const user = await signIn(context, phone)
    const code = await freshCode(context, phone)
    const [deleted, refreshed] = await Promise.all([
      after(round % 2 === 1 ? round * 3 : 0, async () => await deleteAccount(context, user.access, { auth_code: code })),
      after(round % 2 === 0 ? round * 3 : 0, async () => await post(context.app, '/api/token/refresh/', { refresh: user.refresh }))
    ])
    t.equal(deleted.statusCode, 204)
    t.ok(refreshed.statusCode === 200 || refreshed.statusCode === 401, `round ${round}: refreshed or refused, got ${refreshed.statusCode}`)
    seen.set(refreshed.statusCode, (seen.get(refreshed.statusCode) ?? 0) + 1)
    if (refreshed.statusCode === 200) {
      const pair = refreshed.json<{ access: string, refresh: string }>()
      t.equal((await me(context, pair.access)).statusCode, 401, 'a pair issued in the race stops at the next request')
      t.equal((await post(context.app, '/api/token/refresh/', { refresh: pair.refresh })).statusCode, 401)
    }
    t.same(await rowsOf(context, user.user.id, phone), { sessions: 0, tokens: 0, codes: 0 }, `round ${round}: nothing left`)
  }
  t.comment(`refresh outcomes: ${JSON.stringify([...seen])}`)
})

t.test('the deleted account\'s device token gives the phone\'s next account nothing', async t => {
  const context = await buildTestApp(t, { LIMIT_WRONG_CODES_PER_PHONE_DAY: '2', LIMIT_CODES_PER_IP_HOUR: '10000', LIMIT_WRONG_CODES_PER_IP_HOUR: '10000' })
  /** Signs in, then spends the phone's day of wrong codes from a stranger's device, and tries the right code with `token`. */
  async function afterWrongCodes (phone: string, token: () => string): Promise<number> {
    const code = await freshCode(context, phone)
    const wrong = code === '0000' ? '1111' : '0000'
    for (let i = 0; i < 2; i++) t.equal((await post(context.app, '/api/users/verify_code/', { phone, auth_code: wrong })).statusCode, 400)
    t.equal((await post(context.app, '/api/users/verify_code/', { phone, auth_code: code })).statusCode, 429, 'a stranger waits')
    return (await post(context.app, '/api/users/verify_code/', { phone, auth_code: code, device_token: token() })).statusCode
  }
  const kept = '+79123474001'
  const keptIn = await signIn(context, kept)
  const keptToken = (keptIn as unknown as { device_token: string }).device_token
  t.equal(await afterWrongCodes(kept, () => keptToken), 200, 'control: the device that signed in before has a budget of its own')

  const gone = '+79123474002'
  const goneIn = await signIn(context, gone)
  const goneToken = (goneIn as unknown as { device_token: string }).device_token
  t.equal((await deleteAccount(context, goneIn.access, { auth_code: await freshCode(context, gone), device_token: goneToken })).statusCode, 204)
  context.clock.advance(86_400_000)
  t.equal(await afterWrongCodes(gone, () => goneToken), 429, 'the old account\'s device is a stranger to the new one')
})

t.test('deleted phones kept only for device tokens are forgotten once those have expired; the referral guard stays', async t => {
  const context = await setup(t)
  const inviter = await signIn(context, '+79123476001')
  const joined = await signIn(context, '+79123476002')
  const alone = await signIn(context, '+79123476003')
  await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(joined.access), payload: { invite_code: inviter.user.invite_code } })
  t.equal((await deleteAccount(context, joined.access, { auth_code: await freshCode(context, '+79123476002') })).statusCode, 204)
  t.equal((await deleteAccount(context, alone.access, { auth_code: await freshCode(context, '+79123476003') })).statusCode, 204)
  const kept = async () => (await context.app.db.selectFrom('deleted_phones').select('had_activated').orderBy('had_activated').execute()).map(row => Number(row.had_activated))
  t.same(await kept(), [0, 1])
  t.equal(await context.app.services.auth.forgetDeletedPhones(), 0, 'not before the device tokens expire')
  context.clock.advance(context.config.deviceTokenTtlDays * 86_400_000 + 1)
  t.equal(await context.app.services.auth.forgetDeletedPhones(), 1)
  t.same(await kept(), [1], 'the phone that had activated a code stays guarded')
})
