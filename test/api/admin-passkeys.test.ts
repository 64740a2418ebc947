import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { bearer, buildRecordingApp, post, signIn } from '../helpers/app.js'
import { createSoftAuthenticator, type SoftAuthenticator } from '../helpers/authenticator.js'
import { WebClient } from '../web/web-client.js'

// Admins and passkeys (issue 24): both admin faces list a person's passkeys (never the public
// key) and remove one, audited, with passkey.removed (by: admin); the pages ask for a fresh
// proof as for other actions that take something away; passkey sign-ins are counted by method.
// One app for the file, both faces; each test its own person.

const supportKey = 'support-' + 'k'.repeat(40)
const adminPhone = '+79123457101'
const origin = 'http://localhost:8080'
const context = await buildRecordingApp(t, {
  PHONEPASS_ADMIN_KEYS: `support:${supportKey}`,
  ADMIN_PHONES: adminPhone,
  ADMIN_PROOF_MINUTES: '5',
  WEBHOOK_EVENTS: 'passkey.removed'
})
const { app } = context

async function adminCall (method: 'GET' | 'DELETE', url: string, payload?: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return await app.inject({ method, url, headers: { authorization: `Bearer ${supportKey}` }, ...(payload === undefined ? {} : { payload }) })
}

/** A person signed in by code who added a passkey; their id and the authenticator. */
async function personWithPasskey (phone: string, name = 'Pixel 8'): Promise<{ userId: number, authenticator: SoftAuthenticator }> {
  const signed = await signIn(context, phone)
  const authenticator = createSoftAuthenticator(origin)
  const options = await post(app, '/api/users/passkeys/registration/options/', {}, bearer(signed.access))
  const added = await post(app, '/api/users/passkeys/registration/', { response: authenticator.register(options.json()), name }, bearer(signed.access))
  if (added.statusCode !== 201) throw new Error(added.body)
  return { userId: signed.user.id, authenticator }
}

async function passkeySignIn (authenticator: SoftAuthenticator): Promise<LightMyRequestResponse> {
  const options = await post(app, '/api/users/passkeys/authentication/options/', {})
  return await post(app, '/api/users/passkeys/authentication/', { response: authenticator.assert(options.json()) })
}

async function passkeyIds (userId: number): Promise<string[]> {
  return (await app.db.selectFrom('passkeys').select('id').where('user_id', '=', userId).execute()).map(row => row.id)
}

async function lastAudit () {
  return await app.db.selectFrom('admin_audit').selectAll().where('action', '=', 'passkey.remove').orderBy('id', 'desc').executeTakeFirst()
}

async function removedEvents (): Promise<Array<Record<string, unknown>>> {
  const rows = await app.db.selectFrom('webhook_events').select('payload').where('type', '=', 'passkey.removed').orderBy('id').execute()
  return rows.map(row => (JSON.parse(row.payload) as { data: Record<string, unknown> }).data)
}

t.test('the admin API lists a person\'s passkeys without keys and removes one, audited, with passkey.removed by admin', async t => {
  const { userId, authenticator } = await personWithPasskey('+79123457110')
  const passkeySession = await passkeySignIn(authenticator)
  t.equal(passkeySession.statusCode, 200, 'a passkey sign-in first: last used is set')
  const shown = await adminCall('GET', `/api/admin/users/${userId}/`)
  t.equal(shown.statusCode, 200)
  t.match(shown.json().passkeys, [{ id: authenticator.credentialId, name: 'Pixel 8', device_type: 'multiDevice', backed_up: true, created_at: /^2026-/, last_used_at: /^2026-/ }])
  t.notOk(/public_?key|counter|transports/i.test(JSON.stringify(shown.json().passkeys)), 'never the public key')

  const removed = await adminCall('DELETE', `/api/admin/users/${userId}/passkeys/${authenticator.credentialId}/`, { reason: 'lost phone' })
  t.equal(removed.statusCode, 200)
  t.same(removed.json(), { removed: { id: authenticator.credentialId, name: 'Pixel 8' } })
  t.same(await passkeyIds(userId), [], 'gone')
  t.match(await lastAudit(), { actor_kind: 'key', actor: 'support', target_user_id: userId, target_phone: '+79123457110' })
  t.match(JSON.parse((await lastAudit())?.details ?? '{}'), { reason: 'lost phone', passkey: { id: authenticator.credentialId, name: 'Pixel 8' } })
  t.match((await removedEvents()).at(-1), { id: userId, phone: '+79123457110', passkey: { id: authenticator.credentialId }, by: 'admin' })
  t.equal((await passkeySignIn(authenticator)).json().code, 'passkey_invalid', 'it signs nothing in')
  t.equal((await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(passkeySession.json().access) })).statusCode, 401, 'the session it signed in has ended')
  t.equal((await post(app, '/api/token/refresh/', { refresh: passkeySession.json().refresh })).statusCode, 401, 'and its refresh token with it')
  t.same((await adminCall('GET', `/api/admin/users/${userId}/`)).json().passkeys, [])
  const again = await adminCall('DELETE', `/api/admin/users/${userId}/passkeys/${authenticator.credentialId}/`)
  t.equal(again.statusCode, 404)
  t.equal(again.json().code, 'passkey_not_found')
  const audits = await app.db.selectFrom('admin_audit').select('id').where('action', '=', 'passkey.remove').where('target_user_id', '=', userId).execute()
  t.equal(audits.length, 1, 'a refused removal writes no entry')
})

t.test('another account\'s passkey id under this account\'s path is refused and stays', async t => {
  const owner = await personWithPasskey('+79123457111')
  const other = await signIn(context, '+79123457112')
  const refused = await adminCall('DELETE', `/api/admin/users/${other.user.id}/passkeys/${owner.authenticator.credentialId}/`)
  t.equal(refused.statusCode, 404)
  t.equal(refused.json().code, 'passkey_not_found')
  t.same(await passkeyIds(owner.userId), [owner.authenticator.credentialId], 'the owner keeps it')
  const unknownUser = await adminCall('DELETE', `/api/admin/users/999999/passkeys/${owner.authenticator.credentialId}/`)
  t.equal(unknownUser.json().code, 'user_not_found')
  const noKey = await app.inject({ method: 'DELETE', url: `/api/admin/users/${owner.userId}/passkeys/${owner.authenticator.credentialId}/` })
  t.equal(noKey.statusCode, 404, 'without the key: an unknown path')
  t.same(await passkeyIds(owner.userId), [owner.authenticator.credentialId])
})

t.test('the admin pages show the passkeys and remove one after a fresh proof, audited', async t => {
  const { userId, authenticator } = await personWithPasskey('+79123457113', 'Work laptop')
  const admin = new WebClient(app)
  await admin.signIn(context, adminPhone)
  const userPage = `/admin/users/${userId}`
  const shown = await admin.get(userPage)
  t.match(shown.body, '<h2 id="passkeys-title">Passkeys (1)</h2>')
  t.match(shown.body, '>Work laptop</th>')
  t.match(shown.body, `name="passkey_id" value="${authenticator.credentialId}"`)
  t.match(shown.body, '<td>synced</td>')

  // The proof is older than ADMIN_PROOF_MINUTES: a code to the admin's own phone first.
  context.clock.advance(5 * 60_000 + 1000)
  const confirm = await admin.submit(userPage, `${userPage}/passkeys/confirm`, { passkey_id: authenticator.credentialId })
  t.equal(confirm.statusCode, 200)
  t.match(confirm.body, 'Remove this passkey of')
  t.match(confirm.body, 'name="auth_code"', 'a fresh proof is asked for')
  const bare = await admin.submit(userPage, `${userPage}/passkeys/remove`, { passkey_id: authenticator.credentialId, reason: 'asked' })
  t.equal(bare.statusCode, 400, 'no code: refused')
  t.same(await passkeyIds(userId), [authenticator.credentialId], 'nothing removed')
  const sent = await admin.submit(userPage, `${userPage}/passkeys/remove`, { passkey_id: authenticator.credentialId, reason: 'asked', send_code: '1' })
  t.equal(sent.statusCode, 200)
  t.equal(context.sms.messages.at(-1)?.to, adminPhone, 'the code goes to the admin\'s own phone')
  const done = await admin.submit(userPage, `${userPage}/passkeys/remove`, { passkey_id: authenticator.credentialId, reason: 'asked', auth_code: context.sms.lastCode(adminPhone) })
  t.equal(done.statusCode, 303)
  t.equal(done.headers.location, userPage)
  t.same(await passkeyIds(userId), [], 'removed once proved')
  t.match(await lastAudit(), { actor_kind: 'phone', actor: adminPhone, target_user_id: userId })
  t.match((await removedEvents()).at(-1), { id: userId, by: 'admin' })
  const after = await admin.get(userPage)
  t.match(after.body, 'The passkey is removed.')
  t.match(after.body, 'Passkeys (0)')
  t.match(after.body, 'Passkey removed', 'in the account\'s audit list')

  // Another account's passkey id under this account's page: refused, the owner keeps it.
  const owner = await personWithPasskey('+79123457114')
  const wrong = await admin.submit(userPage, `${userPage}/passkeys/remove`, { passkey_id: owner.authenticator.credentialId, reason: 'asked' })
  t.equal(wrong.statusCode, 404)
  t.same(await passkeyIds(owner.userId), [owner.authenticator.credentialId])
})

t.test('passkey sign-ins are counted in phonepass_sign_ins_total with method="passkey"; phone ones with method="phone"', async t => {
  const { authenticator } = await personWithPasskey('+79123457115')
  const sample = async (labels: string): Promise<number> => {
    const line = (await app.metrics.registry.metrics()).split('\n').find(candidate => candidate.startsWith(`phonepass_sign_ins_total{${labels}} `))
    return line === undefined ? 0 : Number(line.split(' ').at(-1))
  }
  const before = await sample('kind="api",created="false",method="passkey"')
  t.equal((await passkeySignIn(authenticator)).statusCode, 200)
  t.equal(await sample('kind="api",created="false",method="passkey"'), before + 1)
  t.ok(await sample('kind="api",created="true",method="phone"') >= 1, 'phone sign-ins keep their series, with method="phone"')
})
