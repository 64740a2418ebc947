import t from 'tap'
import { blockUser } from '../../src/store/users.js'
import { bearer, buildRecordingApp, post, signInFixed } from '../helpers/app.js'
import { createSoftAuthenticator, type SoftAuthenticator } from '../helpers/authenticator.js'

// Passkeys through the API (issue 24), with a software authenticator that builds what a browser
// or Android's Credential Manager sends. One app for the file; each test its own phone.
const testNumbers = ['+15550100018', '+15550100011', '+15550100012', '+15550100013', '+15550100014', '+15550100015', '+15550100016', '+15550100017', '+15550100019']
const phones = testNumbers.slice(1)
const context = await buildRecordingApp(t, {
  TEST_PHONE_NUMBERS: testNumbers.map(phone => `${phone}=1234`).join(','),
  WEBHOOK_EVENTS: 'user.signed_in,passkey.added,passkey.removed'
})
const { app, clock } = context
const origin = 'http://localhost:8080'

async function events (type: string): Promise<Array<Record<string, unknown>>> {
  const rows = await app.db.selectFrom('webhook_events').select('payload').where('type', '=', type).orderBy('id').execute()
  return rows.map(row => (JSON.parse(row.payload) as { data: Record<string, unknown> }).data)
}

/** Signs in by code and adds a passkey from that fresh session. */
async function withPasskey (phone: string): Promise<{ tokens: { access: string, refresh: string }, authenticator: SoftAuthenticator }> {
  const tokens = await signInFixed(app, phone)
  const authenticator = createSoftAuthenticator(origin)
  const options = await post(app, '/api/users/passkeys/registration/options/', {}, bearer(tokens.access))
  if (options.statusCode !== 200) throw new Error(options.body)
  const added = await post(app, '/api/users/passkeys/registration/', { response: authenticator.register(options.json()), name: 'Test key' }, bearer(tokens.access))
  if (added.statusCode !== 201) throw new Error(added.body)
  return { tokens, authenticator }
}

async function assertion (authenticator: SoftAuthenticator, overrides = {}) {
  const options = await post(app, '/api/users/passkeys/authentication/options/', {})
  if (options.statusCode !== 200) throw new Error(options.body)
  return authenticator.assert(options.json(), overrides)
}

t.test('an app adds a passkey after the phone sign-in, then signs in with it: working tokens, no SMS', async t => {
  const phone = phones[0] ?? ''
  const { tokens, authenticator } = await withPasskey(phone)
  const options = await post(app, '/api/users/passkeys/registration/options/', {}, bearer(tokens.access))
  t.match(options.json(), { rp: { id: 'localhost' }, authenticatorSelection: { userVerification: 'required', residentKey: 'required' }, attestation: 'none' })
  t.same(options.json().excludeCredentials.map((c: { id: string }) => c.id), [authenticator.credentialId], 'the passkey it has is excluded')
  const sentBefore = context.sms.messages.length
  const signedIn = await post(app, '/api/users/passkeys/authentication/', { response: await assertion(authenticator) })
  t.equal(signedIn.statusCode, 200, 'signed in')
  t.match(signedIn.json(), { token_type: 'Bearer', user: { phone } })
  const me = await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(signedIn.json().access) })
  t.equal(me.statusCode, 200, 'the access token works')
  const refreshed = await post(app, '/api/token/refresh/', { refresh: signedIn.json().refresh })
  t.equal(refreshed.statusCode, 200, 'the refresh token works')
  t.equal(context.sms.messages.length, sentBefore, 'no SMS for the passkey sign-in')
  const methods = await app.db.selectFrom('sessions').innerJoin('users', 'users.id', 'sessions.user_id').select('sessions.method').where('users.phone', '=', phone).orderBy('sessions.method').execute()
  t.same(methods.map(row => row.method), ['passkey', 'phone'], 'each session records its method')
  const list = await app.inject({ method: 'GET', url: '/api/users/me/passkeys/', headers: bearer(tokens.access) })
  t.match(list.json(), { results: [{ id: authenticator.credentialId, name: 'Test key', device_type: 'multiDevice', backed_up: true, last_used_at: /^2026-/ }] })
  t.match((await events('passkey.added')).at(-1), { phone, passkey: { id: authenticator.credentialId, name: 'Test key' } })
  t.match((await events('user.signed_in')).at(-1), { phone, kind: 'api', method: 'passkey' })
})

t.test('refused: a replayed assertion, another RP ID or origin, no user verification, a used or expired challenge', async t => {
  const { authenticator } = await withPasskey(phones[1] ?? '')
  const good = await assertion(authenticator)
  t.equal((await post(app, '/api/users/passkeys/authentication/', { response: good })).statusCode, 200)
  const replayed = await post(app, '/api/users/passkeys/authentication/', { response: good })
  t.equal(replayed.statusCode, 400)
  t.equal(replayed.json().code, 'passkey_challenge_invalid', 'a replay finds its challenge spent')
  for (const [overrides, what] of [[{ rpId: 'evil.example' }, 'another RP ID'], [{ origin: 'https://evil.example' }, 'another origin'], [{ userVerified: false }, 'no user verification']] as const) {
    const refused = await post(app, '/api/users/passkeys/authentication/', { response: await assertion(authenticator, overrides) })
    t.equal(refused.statusCode, 401, what)
    t.equal(refused.json().code, 'passkey_invalid', what)
  }
  const late = await assertion(authenticator)
  clock.advance(5 * 60_000 + 1)
  const expired = await post(app, '/api/users/passkeys/authentication/', { response: late })
  t.equal(expired.json().code, 'passkey_challenge_invalid', 'an expired challenge')
  const made = await post(app, '/api/users/passkeys/authentication/options/', {})
  const registrationChallenge = authenticator.assert({ challenge: made.json().challenge })
  t.equal((await post(app, '/api/users/passkeys/authentication/', { response: registrationChallenge })).statusCode, 200, 'a fresh one works')
  const cloned = await post(app, '/api/users/passkeys/authentication/', { response: await assertion(authenticator, { counter: 1 }) })
  t.equal(cloned.json().code, 'passkey_invalid', 'a counter gone back (a cloned authenticator) is refused')
})

t.test('a removed passkey signs nothing in; a blocked account\'s neither', async t => {
  const { tokens, authenticator } = await withPasskey(phones[2] ?? '')
  const removed = await app.inject({ method: 'DELETE', url: `/api/users/me/passkeys/${authenticator.credentialId}/`, headers: bearer(tokens.access) })
  t.equal(removed.statusCode, 204)
  const refused = await post(app, '/api/users/passkeys/authentication/', { response: await assertion(authenticator) })
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().code, 'passkey_invalid')
  t.match((await events('passkey.removed')).at(-1), { phone: phones[2], passkey: { id: authenticator.credentialId }, by: 'user' })

  const blocked = await withPasskey(phones[3] ?? '')
  const user = await app.db.selectFrom('users').select('id').where('phone', '=', phones[3] ?? '').executeTakeFirstOrThrow()
  await blockUser(app.db, user.id, 'test', clock.now())
  const answer = await post(app, '/api/users/passkeys/authentication/', { response: await assertion(blocked.authenticator) })
  t.equal(answer.statusCode, 403)
  t.equal(answer.json().code, 'account_blocked')
})

t.test('removing a passkey ends the sessions it signed in, but not the one that removes it', async t => {
  const phone = testNumbers[8] ?? ''
  const { tokens: byCode, authenticator } = await withPasskey(phone)
  const signIn = async () => (await post(app, '/api/users/passkeys/authentication/', { response: await assertion(authenticator) })).json() as { access: string, refresh: string }
  const other = await signIn()
  const remover = await signIn()
  const removed = await app.inject({ method: 'DELETE', url: `/api/users/me/passkeys/${authenticator.credentialId}/`, headers: bearer(remover.access) })
  t.equal(removed.statusCode, 204)
  const me = async (access: string) => (await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(access) })).statusCode
  t.equal(await me(other.access), 401, 'another session the passkey signed in has ended')
  t.equal((await post(app, '/api/token/refresh/', { refresh: other.refresh })).statusCode, 401, 'its refresh token too')
  t.equal(await me(remover.access), 200, 'the session that removed it goes on')
  t.equal(await me(byCode.access), 200, 'a session signed in by code goes on')
})

t.test('a stolen token alone cannot add a passkey: the sign-in must be fresh', async t => {
  const tokens = await signInFixed(app, phones[4] ?? '')
  clock.advance(4 * 60_000)
  const options = await post(app, '/api/users/passkeys/registration/options/', {}, bearer(tokens.access))
  clock.advance(60_000)
  const late = await post(app, '/api/users/passkeys/registration/', { response: createSoftAuthenticator(origin).register(options.json()) }, bearer(tokens.access))
  t.equal(late.statusCode, 403, 'options asked in time, answered after the window: refused')
  t.equal(late.json().code, 'passkey_sign_in_too_old')
  // An access token of that session, refreshed (a thief holding the refresh token), is no fresher.
  const refreshed = await post(app, '/api/token/refresh/', { refresh: tokens.refresh })
  const stolen = await post(app, '/api/users/passkeys/registration/options/', {}, bearer(refreshed.json().access))
  t.equal(stolen.statusCode, 403)
  t.equal(stolen.json().code, 'passkey_sign_in_too_old')
  t.equal((await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(refreshed.json().access) })).statusCode, 200, 'the token itself still works')
  const again = await signInFixed(app, phones[4] ?? '')
  t.equal((await post(app, '/api/users/passkeys/registration/options/', {}, bearer(again.access))).statusCode, 200, 'a new sign-in by code may')
  const other = await signInFixed(app, phones[5] ?? '')
  const mine = await post(app, '/api/users/passkeys/registration/options/', {}, bearer(again.access))
  const crossed = await post(app, '/api/users/passkeys/registration/', { response: createSoftAuthenticator(origin).register(mine.json()) }, bearer(other.access))
  t.equal(crossed.json().code, 'passkey_challenge_invalid', 'another session\'s challenge is refused')
})

t.test('20 parallel verifications of one assertion give one session', async t => {
  const { authenticator } = await withPasskey(phones[6] ?? '')
  const before = await app.db.selectFrom('sessions').select('id').where('method', '=', 'passkey').execute()
  const response = await assertion(authenticator)
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await post(app, '/api/users/passkeys/authentication/', { response })))
  t.same(answers.map(a => a.statusCode).sort(), [200, ...Array<number>(19).fill(400)])
  const after = await app.db.selectFrom('sessions').select('id').where('method', '=', 'passkey').execute()
  t.equal(after.length - before.length, 1, 'one session')
})

t.test('the passkeys are in the export, and go with the account', async t => {
  const phone = '+15550100018'
  const { tokens, authenticator } = await withPasskey(phone)
  const exported = await app.inject({ method: 'GET', url: '/api/users/me/export/', headers: bearer(tokens.access) })
  t.match(exported.json().passkeys, [{ id: authenticator.credentialId, name: 'Test key', device_type: 'multiDevice', backed_up: true, transports: ['internal', 'hybrid'] }])
  t.notMatch(exported.body, /public_key/, 'no public key in the export')
  t.match(exported.json().sessions, [{ method: 'phone' }])
  clock.advance(61_000)
  await post(app, '/api/users/register/', { phone })
  const deleted = await app.inject({ method: 'DELETE', url: '/api/users/me/', headers: bearer(tokens.access), payload: { auth_code: '1234' } })
  t.equal(deleted.statusCode, 204)
  t.equal((await app.db.selectFrom('passkeys').select('id').where('id', '=', authenticator.credentialId).execute()).length, 0, 'deleted with the account')
  const refused = await post(app, '/api/users/passkeys/authentication/', { response: await assertion(authenticator) })
  t.equal(refused.json().code, 'passkey_invalid')
})

t.test('a session\'s passkey proof (the admin\'s second factor) takes only the account\'s own passkey', async t => {
  const sessionOf = (access: string) => {
    const claims = JSON.parse(Buffer.from(access.split('.')[1] ?? '', 'base64url').toString()) as { user_id: number, sid: string }
    return { userId: claims.user_id, sessionId: claims.sid }
  }
  const client = { ip: '127.0.0.1' }
  const owner = await withPasskey(phones[5] ?? '')
  const stranger = await withPasskey(phones[4] ?? '')
  const ownerSession = sessionOf(owner.tokens.access)
  const options = await app.services.passkeys.proofOptions(ownerSession, client)
  t.same(options.allowCredentials?.map(c => c.id), [owner.authenticator.credentialId], 'only the owner\'s passkeys are asked for')
  await t.rejects(app.services.passkeys.proveSession(ownerSession, stranger.authenticator.assert(options) as never), { code: 'passkey_invalid' }, 'another account\'s passkey is refused')
  const theirs = await app.services.passkeys.proofOptions(sessionOf(stranger.tokens.access), client)
  await t.rejects(app.services.passkeys.proveSession(ownerSession, owner.authenticator.assert(theirs) as never), { code: 'passkey_challenge_invalid' }, 'another session\'s challenge is refused')
  t.equal((await app.db.selectFrom('sessions').select('passkey_at').where('id', '=', ownerSession.sessionId).executeTakeFirstOrThrow()).passkey_at, null, 'not proved')
  const again = await app.services.passkeys.proofOptions(ownerSession, client)
  await app.services.passkeys.proveSession(ownerSession, owner.authenticator.assert(again) as never)
  t.not((await app.db.selectFrom('sessions').select('passkey_at').where('id', '=', ownerSession.sessionId).executeTakeFirstOrThrow()).passkey_at, null, 'the owner\'s own passkey proves the owner\'s session')
  const another = await signInFixed(app, phones[5] ?? '')
  const removed = await app.inject({ method: 'DELETE', url: `/api/users/me/passkeys/${owner.authenticator.credentialId}/`, headers: bearer(another.access) })
  t.equal(removed.statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(owner.tokens.access) })).statusCode, 401, 'removing the passkey ends the session it proved')
})

t.test('the app links of /.well-known/ come from the settings', async t => {
  const { buildTestApp } = await import('../helpers/app.js')
  const fingerprint = Array.from({ length: 32 }, () => 'AB').join(':')
  const linked = await buildTestApp(t, { APPLE_APP_IDS: 'ABCDE12345.com.example.app', ANDROID_APP_LINKS: `com.example.app=${fingerprint}` })
  const apple = await linked.app.inject({ method: 'GET', url: '/.well-known/apple-app-site-association' })
  t.same(apple.json(), { webcredentials: { apps: ['ABCDE12345.com.example.app'] } })
  t.match(apple.headers['content-type'], /application\/json/)
  const android = await linked.app.inject({ method: 'GET', url: '/.well-known/assetlinks.json' })
  t.match(android.json(), [{ relation: ['delegate_permission/common.handle_all_urls', 'delegate_permission/common.get_login_creds'], target: { namespace: 'android_app', package_name: 'com.example.app', sha256_cert_fingerprints: [fingerprint] } }])
})
