import type { InjectOptions } from 'fastify'
import t from 'tap'
import { bearer, buildTestApp, signIn } from '../helpers/app.js'

async function patchInvite (context: Awaited<ReturnType<typeof buildTestApp>>, access: string, inviteCode: unknown) {
  return await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(access), payload: { invite_code: inviteCode } })
}

t.test('me answers the profile for a bearer token, 401 without one', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const me = await context.app.inject({ url: '/api/users/me/', headers: bearer(alice.access) })
  t.equal(me.statusCode, 200)
  t.same(me.json(), alice.user)

  const anonymous = await context.app.inject({ url: '/api/users/me/' })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.', code: 'not_authenticated' })
  t.match(anonymous.headers['www-authenticate'], /^Bearer/)

  for (const header of ['Bearer', 'Bearer not.a.jwt', `Bearer ${alice.access}x`, `JWT ${alice.access}x`]) {
    const res = await context.app.inject({ url: '/api/users/me/', headers: { authorization: header } })
    t.equal(res.statusCode, 401, header)
    t.equal(res.json().code, 'token_not_valid', header)
  }
  // Another scheme is no credentials, as in simplejwt: an app that refreshes on token_not_valid
  // must not be sent to refresh by a header that never held a token of ours.
  for (const header of ['Basic dXNlcjpwYXNz', 'Token abc', 'Bearerabc']) {
    const res = await context.app.inject({ url: '/api/users/me/', headers: { authorization: header } })
    t.equal(res.statusCode, 401, header)
    t.equal(res.json().code, 'not_authenticated', header)
    t.match(res.headers['www-authenticate'], /^Bearer realm="api"$/, header)
  }
  t.equal((await context.app.inject({ url: '/api/users/me', headers: bearer(alice.access) })).statusCode, 200, 'the trailing slash is optional')
  t.equal((await context.app.inject({ url: '/api/profile/', headers: bearer(alice.access) })).statusCode, 200, 'GET /api/profile/ as in DRF')
})

t.test('without credentials the answer is 401 whatever the body or query: DRF authenticated first', async t => {
  const context = await buildTestApp(t)
  const requests: InjectOptions[] = [
    { method: 'PATCH', url: '/api/profile/', payload: {} },
    { method: 'PUT', url: '/api/profile/', payload: { invite_code: 7 } },
    { method: 'PATCH', url: '/api/profile/', payload: 'invite_code=K7M2XQ', headers: { 'content-type': 'text/plain' } },
    { method: 'PATCH', url: '/api/profile/', payload: '{"invite_code":', headers: { 'content-type': 'application/json' } },
    { method: 'GET', url: '/api/users/me/invited/?limit=abc' },
    { method: 'GET', url: '/api/users/me/invited/?offset=-1', headers: { authorization: 'Bearer not.a.jwt' } }
  ]
  for (const request of requests) {
    const res = await context.app.inject(request)
    const label = `${String(request.method)} ${String(request.url)} ${JSON.stringify(request.payload ?? '')}`
    t.equal(res.statusCode, 401, label)
    t.match(res.headers['www-authenticate'], /^Bearer realm="api"/, label)
    t.notOk('errors' in res.json(), `${label}: no field errors before the caller is known`)
  }
})

t.test('activating an invite code links the two profiles', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const bob = await signIn(context, '+79123456702')
  const res = await patchInvite(context, bob.access, alice.user.invite_code)
  t.equal(res.statusCode, 200)
  t.equal(res.json().activated_invite_code, alice.user.invite_code)
  const aliceNow = await context.app.inject({ url: '/api/users/me/', headers: bearer(alice.access) })
  t.same(aliceNow.json().users_invited, ['+79123456702'])
})

t.test('invite codes are case-insensitive and may carry spaces', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const bob = await signIn(context, '+79123456702')
  const typed = ` ${alice.user.invite_code.slice(0, 3).toLowerCase()} ${alice.user.invite_code.slice(3).toLowerCase()} `
  const res = await patchInvite(context, bob.access, typed)
  t.equal(res.statusCode, 200)
  t.equal(res.json().activated_invite_code, alice.user.invite_code)
})

t.test('PUT works like PATCH (DRF update view)', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const bob = await signIn(context, '+79123456702')
  const res = await context.app.inject({ method: 'PUT', url: '/api/profile/', headers: bearer(bob.access), payload: { invite_code: alice.user.invite_code } })
  t.equal(res.statusCode, 200)
})

t.test('refusals: malformed 400, own code 400, unknown 404, second activation 409, cycle 409', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const bob = await signIn(context, '+79123456702')
  const carol = await signIn(context, '+79123456703')

  for (const malformed of ['', 'ABC', 'ABCDEFG', 'O0I1L2', '!!!!!!']) {
    const res = await patchInvite(context, bob.access, malformed)
    t.equal(res.statusCode, 400, JSON.stringify(malformed))
  }
  const own = await patchInvite(context, alice.access, alice.user.invite_code)
  t.equal(own.statusCode, 400)
  t.equal(own.json().code, 'invite_own_code')
  t.same(own.json().errors, { invite_code: [own.json().detail] })

  const unknown = await patchInvite(context, alice.access, alice.user.invite_code === 'ZZZZZZ' ? 'YYYYYY' : 'ZZZZZZ')
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'invite_not_found')

  // alice ← bob ← carol: alice may not take carol's code (cycle), nor bob's.
  t.equal((await patchInvite(context, bob.access, alice.user.invite_code)).statusCode, 200)
  t.equal((await patchInvite(context, carol.access, bob.user.invite_code)).statusCode, 200)
  for (const code of [carol.user.invite_code, bob.user.invite_code]) {
    const cycle = await patchInvite(context, alice.access, code)
    t.equal(cycle.statusCode, 409)
    t.equal(cycle.json().code, 'invite_cycle')
  }

  const second = await patchInvite(context, bob.access, carol.user.invite_code)
  t.equal(second.statusCode, 409)
  t.equal(second.json().code, 'invite_already_activated')
  const unauthenticated = await context.app.inject({ method: 'PATCH', url: '/api/profile/', payload: { invite_code: alice.user.invite_code } })
  t.equal(unauthenticated.statusCode, 401)
})

t.test('20 parallel activations give exactly one', async t => {
  // Tries at invite codes are counted before the lookup: 20 at once are 20 in flight.
  const context = await buildTestApp(t, { LIMIT_CODES_PER_IP_HOUR: '1000', LIMIT_WRONG_INVITES_PER_USER_HOUR: '100' })
  const bob = await signIn(context, '+79123456700')
  const inviters = await Promise.all(Array.from({ length: 20 }, async (_, i) => await signIn(context, `+791234567${String(10 + i)}`)))
  const answers = await Promise.all(inviters.map(async inviter => await patchInvite(context, bob.access, inviter.user.invite_code)))
  t.equal(answers.filter(res => res.statusCode === 200).length, 1)
  t.equal(answers.filter(res => res.statusCode === 409).length, 19)
  const carol = await signIn(context, '+79123456790')
  const dan = await signIn(context, '+79123456791')
  const same = await Promise.all(Array.from({ length: 20 }, async () => await patchInvite(context, dan.access, carol.user.invite_code)))
  t.equal(same.filter(res => res.statusCode === 200).length, 1, 'the same code 20 times at once: one activation')
})

t.test('two users taking each other\'s codes at once: only one succeeds', async t => {
  const context = await buildTestApp(t)
  for (let round = 0; round < 5; round++) {
    const a = await signIn(context, `+7912345680${round}`)
    const b = await signIn(context, `+7912345681${round}`)
    const [ab, ba] = await Promise.all([patchInvite(context, a.access, b.user.invite_code), patchInvite(context, b.access, a.user.invite_code)])
    t.same([ab.statusCode, ba.statusCode].sort(), [200, 409], `round ${round}`)
  }
})

t.test('the invited list is oldest first', async t => {
  const context = await buildTestApp(t)
  const alice = await signIn(context, '+79123456701')
  const phones = ['+79123456705', '+79123456703', '+79123456704']
  for (const p of phones) {
    const friend = await signIn(context, p)
    context.clock.advance(1000)
    await patchInvite(context, friend.access, alice.user.invite_code)
  }
  const me = await context.app.inject({ url: '/api/users/me/', headers: bearer(alice.access) })
  t.same(me.json().users_invited, phones)
})

t.test('a profile shows at most PROFILE_INVITED_LIMIT invitees, with the count; the rest are paged', async t => {
  const context = await buildTestApp(t, { PROFILE_INVITED_LIMIT: '3' })
  const alice = await signIn(context, '+79123456701')
  const phones: string[] = []
  for (let i = 0; i < 5; i++) {
    const phone = `+7912345672${i}`
    const friend = await signIn(context, phone)
    context.clock.advance(1000)
    t.equal((await patchInvite(context, friend.access, alice.user.invite_code)).statusCode, 200)
    phones.push(phone)
  }
  const me = (await context.app.inject({ url: '/api/users/me/', headers: bearer(alice.access) })).json()
  t.same(me.users_invited, phones.slice(0, 3))
  t.equal(me.users_invited_count, 5)

  // Links as DRF's LimitOffsetPagination gives them, the first page without an offset; but paths,
  // not built from a Host header that nothing checks.
  const first = await context.app.inject({ url: '/api/users/me/invited/?limit=2', headers: bearer(alice.access) })
  t.equal(first.statusCode, 200)
  t.same(first.json(), { count: 5, next: '/api/users/me/invited/?limit=2&offset=2', previous: null, results: phones.slice(0, 2) })
  const second = await context.app.inject({ url: '/api/users/me/invited/?limit=2&offset=2', headers: { ...bearer(alice.access), host: 'evil.example' } })
  t.same(second.json(), {
    count: 5,
    next: '/api/users/me/invited/?limit=2&offset=4',
    previous: '/api/users/me/invited/?limit=2',
    results: phones.slice(2, 4)
  }, 'whatever the Host header says')
  const last = await context.app.inject({ url: '/api/users/me/invited/?limit=2&offset=4', headers: bearer(alice.access) })
  t.same(last.json(), { count: 5, next: null, previous: '/api/users/me/invited/?limit=2&offset=2', results: phones.slice(4) })
  const defaults = await context.app.inject({ url: '/api/users/me/invited/', headers: bearer(alice.access) })
  t.same(defaults.json(), { count: 5, next: null, previous: null, results: phones }, 'limit and offset may be left out')
  const beyond = await context.app.inject({ url: '/api/users/me/invited/?offset=10', headers: bearer(alice.access) })
  t.same(beyond.json().results, [])
  for (const query of ['limit=0', 'limit=1001', 'offset=-1', 'limit=abc']) {
    const bad = await context.app.inject({ url: `/api/users/me/invited/?${query}`, headers: bearer(alice.access) })
    t.equal(bad.statusCode, 400, query)
  }
  t.equal((await context.app.inject({ url: '/api/users/me/invited/' })).statusCode, 401)
})
