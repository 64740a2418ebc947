import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { buildTestApp, signIn, type TestContext } from '../helpers/app.js'
import { WebClient } from './web-client.js'

// Admin access (issue 22), on both databases: the pages need a sign-in at most
// ADMIN_SESSION_HOURS old (from the session row, the person's own session lives on), a
// destructive action needs a code proved within ADMIN_PROOF_MINUTES, and ADMIN_ALLOWED_NETWORKS
// limits where the admin API and pages are used from.

const adminPhone = '+79123458001'
const personPhone = '+79123458010'
const adminKey = 'support-' + 'k'.repeat(40)

async function build (t: Parameters<typeof buildTestApp>[0], env: Record<string, string> = {}): Promise<TestContext> {
  return await buildTestApp(t, {
    ADMIN_PHONES: adminPhone, PHONEPASS_ADMIN_KEYS: `support:${adminKey}`, LIMIT_CODES_PER_IP_HOUR: '10000', LIMIT_WRONG_CODES_PER_IP_HOUR: '10000', ...env
  })
}

function text (res: LightMyRequestResponse): string {
  return res.body.replace(/<[^>]+>/g, ' ').replace(/&nbsp;|\s+/g, ' ')
}

async function signedInAdmin (context: TestContext, headers: Record<string, string> = {}): Promise<WebClient> {
  const client = new WebClient(context.app, headers)
  await client.signIn(context, adminPhone)
  return client
}

t.test('the admin pages need a sign-in at most ADMIN_SESSION_HOURS old; the person\'s session lives on', async t => {
  const context = await build(t, { ADMIN_SESSION_HOURS: '8' })
  const admin = await signedInAdmin(context)
  t.equal((await admin.get('/admin')).statusCode, 200)
  context.clock.advance(8 * 3_600_000 - 1000)
  t.equal((await admin.get('/admin')).statusCode, 200, 'just inside the limit')
  context.clock.advance(2000)
  const late = await admin.get('/admin')
  t.equal(late.statusCode, 403)
  t.match(text(late), 'You signed in more than 8 hours ago')
  t.equal((await admin.get('/admin/audit')).statusCode, 403, 'every admin page')
  t.equal((await admin.get('/profile')).statusCode, 200, 'the ordinary session is still live')
  // A new sign-in opens the pages again.
  await admin.submit('/profile', '/logout')
  await admin.signIn(context, adminPhone)
  t.equal((await admin.get('/admin')).statusCode, 200, 'signed in again')
})

t.test('a destructive action asks for a fresh code to the admin\'s own phone once the last proof is older than ADMIN_PROOF_MINUTES', async t => {
  const context = await build(t, { ADMIN_PROOF_MINUTES: '5' })
  const person = await signIn(context, personPhone)
  const admin = await signedInAdmin(context)
  const page = `/admin/users/${person.user.id}/delete`
  t.notMatch((await admin.get(page)).body, 'name="auth_code"', 'signed in just now: no code asked')
  context.clock.advance(5 * 60_000 + 1000)
  const confirm = await admin.get(page)
  t.match(confirm.body, /<label for="auth_code">Code sent to your phone<\/label>/, 'a labelled code field')
  t.match(confirm.body, 'name="send_code"')

  const bare = await admin.submit(page, page, { reason: 'asked' })
  t.equal(bare.statusCode, 400, 'no code: refused beside the field')
  t.match(bare.body, 'aria-invalid="true"')
  const live = async () => await context.app.db.selectFrom('users').select('id').where('id', '=', person.user.id).where('deleted_at', 'is', null).execute()
  t.equal((await live()).length, 1, 'nothing deleted')

  const smsBefore = context.sms.messages.length
  const sent = await admin.submit(page, page, { reason: 'asked', send_code: '1' })
  t.equal(sent.statusCode, 200)
  t.match(text(sent), 'A code is on its way to your phone.')
  t.equal(context.sms.messages.length, smsBefore + 1)
  t.equal(context.sms.messages.at(-1)?.to, adminPhone, 'to the admin\'s own phone')
  const wrong = context.sms.lastCode(adminPhone) === '0000' ? '1111' : '0000'
  t.equal((await admin.submit(page, page, { reason: 'asked', auth_code: wrong })).statusCode, 400, 'a wrong code is refused')
  t.equal((await live()).length, 1, 'nothing deleted')

  const done = await admin.submit(page, page, { reason: 'asked', auth_code: context.sms.lastCode(adminPhone) })
  t.equal(done.statusCode, 303)
  t.equal((await live()).length, 0, 'deleted once proved')
  // The proof is good for a few minutes: a block right after asks for no code.
  const other = await signIn(context, '+79123458011')
  t.notMatch((await admin.get(`/admin/users/${other.user.id}/block`)).body, 'name="auth_code"')
  // Not destructive: an unblock or a clear never asks.
  context.clock.advance(10 * 60_000)
  t.notMatch((await admin.get(`/admin/users/${other.user.id}/unblock`)).body, 'name="auth_code"')
  t.match((await admin.get(`/admin/users/${other.user.id}/block`)).body, 'name="auth_code"')
})

t.test('ADMIN_ALLOWED_NETWORKS: admins from elsewhere are refused with 403 admin_network_refused; to anyone else still an unknown path', async t => {
  const context = await build(t, { ADMIN_ALLOWED_NETWORKS: '10.0.0.0/8, 2001:db8::/32', TRUST_PROXY: '1' })
  const { app } = context
  const key = { authorization: `Bearer ${adminKey}` }
  const api = async (ip: string, headers: Record<string, string> = key) => await app.inject({ url: '/api/admin/users/', headers: { 'x-forwarded-for': ip, ...headers } })
  t.equal((await api('10.1.2.3')).statusCode, 200, 'IPv4 inside')
  t.equal((await api('2001:db8::7')).statusCode, 200, 'IPv6 inside')
  const outside = await api('203.0.113.9')
  t.equal(outside.statusCode, 403)
  t.same(outside.json(), { detail: 'Admin access is not allowed from this network (ADMIN_ALLOWED_NETWORKS).', code: 'admin_network_refused' })
  t.equal((await api('2001:db9::1')).statusCode, 403, 'IPv6 outside')
  t.equal((await api('203.0.113.9', {})).statusCode, 404, 'no key: the unknown path\'s answer, wherever from')

  const inside = await signedInAdmin(context, { 'x-forwarded-for': '10.9.9.9' })
  t.equal((await inside.get('/admin')).statusCode, 200)
  context.clock.advance(61_000)
  const elsewhere = await signedInAdmin(context, { 'x-forwarded-for': '198.51.100.4' })
  const refused = await elsewhere.get('/admin')
  t.equal(refused.statusCode, 403)
  t.match(text(refused), 'Admin access is not allowed from this network')
  const stranger = new WebClient(app, { 'x-forwarded-for': '198.51.100.4' })
  await stranger.signIn(context, personPhone)
  t.equal((await stranger.get('/admin')).statusCode, 404, 'a signed-in non-admin still sees an unknown path')
})

t.test('the admin pages\' reads are audited: one entry per read, nothing read in it', async t => {
  const context = await build(t)
  const person = await signIn(context, personPhone)
  const admin = await signedInAdmin(context)
  await admin.get('/admin')
  await admin.submit('/admin', '/admin/search', { phone: personPhone })
  await admin.get(`/admin/users/${person.user.id}`)
  await admin.get('/admin/audit')
  const rows = await context.app.db.selectFrom('admin_audit').select(['action', 'actor', 'target_user_id', 'target_phone', 'details', 'server_request_id']).orderBy('id').execute()
  t.same(rows.map(row => [row.action, row.actor, row.target_user_id === null ? null : Number(row.target_user_id), row.target_phone]), [
    ['read.users', adminPhone, null, null],
    ['read.users', adminPhone, null, null],
    ['read.users', adminPhone, person.user.id, personPhone],
    ['read.user', adminPhone, person.user.id, personPhone],
    ['read.audit', adminPhone, null, null]
  ])
  t.ok(rows.every(row => row.server_request_id !== null && !row.details.includes(person.user.invite_code)))
})
