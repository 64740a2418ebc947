import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { bearer, buildTestApp, signIn, type TestContext } from '../helpers/app.js'
import { spoiled, WebClient } from './web-client.js'

// The support pages at /admin (issue 17): every action through the pages, each behind a
// confirmation step; the rule that anyone but an admin signed in now sees an unknown path; CSRF;
// both languages; the audit log on the pages.

const adminPhone = '+79123457001'
const secondAdmin = '+79123457002'
const personPhone = '+79123457010'
const otherPhone = '+79123457011'
const shownPerson = '+7 912 345 70 10'
const shownAdmin = '+7 912 345 70 01'

async function buildAdminApp (t: Parameters<typeof buildTestApp>[0], admins = adminPhone): Promise<TestContext> {
  // Every request of a test comes from one address: more codes an hour than one address's default.
  return await buildTestApp(t, { ADMIN_PHONES: admins, LIMIT_CODES_PER_IP_HOUR: '10000', LIMIT_WRONG_CODES_PER_IP_HOUR: '10000' })
}

async function signedInAdmin (context: TestContext, phone = adminPhone, headers: Record<string, string> = {}): Promise<WebClient> {
  const client = new WebClient(context.app, headers)
  await client.signIn(context, phone)
  return client
}

async function userIdOf (context: TestContext, phone: string): Promise<number> {
  const row = await context.app.db.selectFrom('users').select('id').where('phone', '=', phone).executeTakeFirstOrThrow()
  return Number(row.id)
}

/** The page as a person reads it: tags dropped, spaces folded. */
function text (res: LightMyRequestResponse): string {
  return res.body.replace(/<[^>]+>/g, ' ').replace(/&nbsp;|\s+/g, ' ')
}

function notice (res: LightMyRequestResponse): string | undefined {
  return /<p class="notice" role="status">([^<]*)<\/p>/.exec(res.body)?.[1]
}

/** An admin's form post from the page that shows the form (its CSRF token), then the page it leads to. */
async function confirmAndPost (client: WebClient, confirmPage: string, action: string, form: Record<string, string> = {}): Promise<{ posted: LightMyRequestResponse, next: LightMyRequestResponse }> {
  const posted = await client.submit(confirmPage, action, form)
  const next = await client.get(String(posted.headers.location))
  return { posted, next }
}

async function auditRows (context: TestContext) {
  return await context.app.db.selectFrom('admin_audit').selectAll().where('action', 'not like', 'read.%').orderBy('id').execute()
}

t.test('an admin signs in through the usual pages and finds the support pages', async t => {
  const context = await buildAdminApp(t)
  const admin = new WebClient(context.app)
  // Signed out, /admin is an unknown path: the admin signs in with next=/admin.
  await admin.submit('/login', '/login', { phone: adminPhone, next: '/admin' })
  const signedIn = await admin.submit('/login/code', '/login/code', { auth_code: context.sms.lastCode(adminPhone) })
  t.equal(signedIn.headers.location, '/admin')
  const home = await admin.get('/admin')
  t.equal(home.statusCode, 200)
  t.equal(home.headers['cache-control'], 'no-store')
  t.match(home.body, '<h1>Support</h1>')
  t.match(home.body, '<nav class="admin-nav" aria-label="Support pages">')
  t.match(home.body, '<a href="/admin" aria-current="page">Accounts</a>')
  t.match((await admin.get('/profile')).body, '<a href="/admin">Support pages</a>', 'the profile links to them')

  const person = new WebClient(context.app)
  await person.signIn(context, personPhone)
  t.notMatch((await person.get('/profile')).body, 'href="/admin"', 'no link for anyone else')
})

t.test('to anyone but an admin signed in now, every admin path answers as an unknown path', async t => {
  const context = await buildAdminApp(t)
  const admin = await signedInAdmin(context)
  const person = new WebClient(context.app)
  await person.signIn(context, personPhone)
  const personId = await userIdOf(context, personPhone)
  const stranger = new WebClient(context.app)
  await stranger.get('/login')

  // The same request to an admin path and to a path that does not exist, by each visitor.
  type Ask = (client: WebClient, path: string) => Promise<LightMyRequestResponse>
  const token = async (client: WebClient) => await client.token(client === stranger ? '/login' : '/profile')
  const asks: Array<[string, string, Ask]> = [
    ['GET /admin', '/admin', async (c, p) => await c.get(p)],
    ['GET /admin?cursor=5', '/admin?cursor=5', async (c, p) => await c.get(p)],
    ['GET the audit log', '/admin/audit', async (c, p) => await c.get(p)],
    ['GET a user', `/admin/users/${personId}`, async (c, p) => await c.get(p)],
    ['GET a confirmation', `/admin/users/${personId}/block`, async (c, p) => await c.get(p)],
    ['GET a bad id', '/admin/users/abc', async (c, p) => await c.get(p)],
    ['GET the fraud guard', '/admin/fraud', async (c, p) => await c.get(p)],
    ['GET a verdict\'s confirmation', '/admin/fraud/confirm?action=block&destination=%2B44791112', async (c, p) => await c.get(p)],
    ['a verdict posted with a token', '/admin/fraud/rules', async (c, p) => await c.post(p, { _csrf: await token(c), destination: '+44791112', action: 'block', reason: 'spam' })],
    ['HEAD /admin', '/admin', async (c, p) => await c.app.inject({ method: 'HEAD', url: p, headers: { cookie: c.cookieHeader() } })],
    ['a post with a token', `/admin/users/${personId}/block`, async (c, p) => await c.post(p, { _csrf: await token(c), reason: 'spam' })],
    ['a post without a token', `/admin/users/${personId}/block`, async (c, p) => await c.post(p, { reason: 'spam' })],
    ['a post with a stale token', `/admin/users/${personId}/block`, async (c, p) => await c.post(p, { _csrf: spoiled(await token(c)), reason: 'spam' })],
    ['a post with a body the route would refuse', `/admin/users/${personId}/sessions/end`, async (c, p) => await c.post(p, { _csrf: await token(c) })],
    ['a post of XML with the token in a header', '/admin/search', async (c, p) => await c.post(p, {}, { 'content-type': 'text/xml', 'csrf-token': await token(c) })],
    ['a post of broken JSON', '/admin/search', async (c, p) => await c.post(p, {}, { 'content-type': 'application/json', 'csrf-token': await token(c) })],
    ['a cross-site post', '/admin/search', async (c, p) => await c.post(p, { _csrf: await token(c), phone: personPhone }, { 'sec-fetch-site': 'cross-site' })],
    ['a search with a token', '/admin/search', async (c, p) => await c.post(p, { _csrf: await token(c), phone: personPhone })]
  ]
  const unknown = (path: string) => path.replace('/admin', '/nothing-here')
  // The page names its own address in the language links: compared with that left out.
  const same = (res: LightMyRequestResponse) => res.body.replace(/next=[^"]*/g, 'next=HERE')

  for (const [who, client] of [['signed out', stranger], ['a signed-in user', person]] as const) {
    for (const [what, path, ask] of asks) {
      const answer = await ask(client, path)
      const control = await ask(client, unknown(path))
      t.equal(answer.statusCode, control.statusCode, `${who}, ${what}: status ${control.statusCode}`)
      t.equal(answer.headers['content-type'], control.headers['content-type'], `${who}, ${what}: the same type`)
      t.equal(answer.headers['cache-control'], control.headers['cache-control'], `${who}, ${what}: the same caching`)
      t.equal(answer.headers.location, undefined, `${who}, ${what}: no redirect`)
      t.equal(same(answer), same(control), `${who}, ${what}: the same page`)
    }
  }
  t.equal((await person.get('/admin')).statusCode, 404)
  t.match((await person.get('/admin')).body, '<h1>Page not found</h1>')
  t.equal((await admin.get('/admin')).statusCode, 200, 'the admin, on the same app, sees the page')
  t.equal((await context.app.db.selectFrom('users').select('blocked_at').where('id', '=', personId).executeTakeFirstOrThrow()).blocked_at, null, 'no post blocked anyone')
  t.same(await auditRows(context), [], 'no action was logged')
  t.equal((await person.get('/profile')).statusCode, 200, 'the person is still signed in: nothing was done to them')
})

t.test('a phone taken off ADMIN_PHONES loses the pages at once, its session still live; a blocked admin too', async t => {
  const context = await buildAdminApp(t, `${adminPhone},${secondAdmin}`)
  const admin = await signedInAdmin(context)
  t.equal((await admin.get('/admin')).statusCode, 200)

  // A second instance on the same database, configured without the phone (a restart after the
  // list changed): the same cookie is signed in there, and the pages are gone.
  const withoutAdmin = await buildApp({ ...context.config, adminPhones: new Set([secondAdmin]) }, { db: context.app.db, clock: context.clock })
  t.teardown(async () => { await withoutAdmin.close() })
  const sameCookie = new WebClient(withoutAdmin)
  for (const [name, value] of admin.cookies) sameCookie.cookies.set(name, value)
  t.equal((await sameCookie.get('/profile')).statusCode, 200, 'the session is live on the new instance')
  const refused = await sameCookie.get('/admin')
  t.equal(refused.statusCode, 404)
  t.match(refused.body, '<h1>Page not found</h1>')
  t.equal((await sameCookie.submit('/profile', '/admin/search', { phone: personPhone })).statusCode, 404, 'a post too')
  t.equal((await admin.get('/admin')).statusCode, 200, 'the first instance, still listing it, still shows them')

  // An admin blocked by another admin is refused, the session ended by the block.
  const second = await signedInAdmin(context, secondAdmin)
  const secondId = await userIdOf(context, secondAdmin)
  t.equal((await second.get('/admin')).statusCode, 200)
  const { posted } = await confirmAndPost(admin, `/admin/users/${secondId}/block`, `/admin/users/${secondId}/block`, { reason: 'left the team' })
  t.equal(posted.statusCode, 303)
  const blocked = await second.get('/admin')
  t.equal(blocked.statusCode, 404)
  t.match(blocked.body, '<h1>Page not found</h1>')
})

t.test('search: by phone or invite code to the account\'s page; nothing found; a typo beside its field; the newest accounts paged', async t => {
  const context = await buildAdminApp(t)
  const admin = await signedInAdmin(context)
  const person = await signIn(context, personPhone)
  const personId = person.user.id

  const byPhone = await admin.submit('/admin', '/admin/search', { phone: '8 912 345-70-10' })
  t.equal(byPhone.statusCode, 303)
  t.equal(byPhone.headers.location, `/admin/users/${personId}`, 'a phone as typed leads to its account, the phone in no address')
  const byCode = await admin.submit('/admin', '/admin/search', { invite_code: person.user.invite_code.toLowerCase() })
  t.equal(byCode.headers.location, `/admin/users/${personId}`, 'so does its invite code')
  t.equal((await admin.submit('/admin', '/admin/search', { phone: '', invite_code: ' ' })).headers.location, '/admin', 'an empty search lists the newest')

  const noCode = await admin.submit('/admin', '/admin/search', { invite_code: 'ZZZZZZ' })
  t.equal(noCode.statusCode, 200)
  t.match(noCode.body, 'No account has this number or invite code.')
  t.match(noCode.body, 'value="ZZZZZZ"', 'the search is kept in the form')

  const typo = await admin.submit('/admin', '/admin/search', { phone: '12abc' })
  t.equal(typo.statusCode, 400)
  t.match(typo.body, '<p class="error" id="phone-error">Enter a valid phone number')
  t.match(typo.body, 'aria-invalid="true"')
  const badCode = await admin.submit('/admin', '/admin/search', { invite_code: 'K7' })
  t.equal(badCode.statusCode, 400)
  t.match(badCode.body, 'id="invite_code-error">An invite code is 6 letters and digits')

  // 55 more accounts: a page holds 50, newest first; "Older" goes on from the last one shown.
  for (let i = 0; i < 55; i++) await signIn(context, `+7912346${String(i).padStart(4, '0')}`)
  const first = await admin.get('/admin')
  const phonesOn = (res: LightMyRequestResponse) => [...res.body.matchAll(/<a href="\/admin\/users\/(\d+)" class="phone-number">/g)].map(match => Number(match[1]))
  const firstIds = phonesOn(first)
  t.equal(firstIds.length, 50)
  t.same(firstIds, [...firstIds].sort((a, b) => b - a), 'newest first')
  t.match(first.body, '<caption id="users-caption"><span>Accounts, newest first</span></caption>')
  const older = /<a href="(\/admin\?cursor=\d+)" rel="next">Older<\/a>/.exec(first.body)?.[1]
  t.ok(older, 'a link to the older accounts')
  const second = await admin.get(older ?? '')
  const secondIds = phonesOn(second)
  t.equal(secondIds.length, 57 - 50, 'the rest: 55 + the person + the admin')
  t.ok(Math.max(...secondIds) < Math.min(...firstIds), 'the second page goes on where the first stopped')
  t.match(second.body, '<a href="/admin">Newest</a>')
  t.notMatch(second.body, 'rel="next"', 'no third page')
  t.equal((await admin.get('/admin?cursor=0')).statusCode, 400, 'a cursor out of range is refused')
})

t.test('one account\'s page: profile, inviter, invitees, live sessions, the phone\'s counters, events and audit entries', async t => {
  const context = await buildAdminApp(t)
  const admin = await signedInAdmin(context)
  const inviter = await signIn(context, otherPhone)
  const person = new WebClient(context.app, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36' })
  await person.signIn(context, personPhone)
  await person.submit('/profile', '/profile/invite', { invite_code: inviter.user.invite_code })
  const personId = await userIdOf(context, personPhone)

  const page = await admin.get(`/admin/users/${personId}`)
  t.equal(page.statusCode, 200)
  t.match(page.body, `<h1>Account <span class="phone-number">${shownPerson}</span></h1>`)
  t.match(page.body, `<title>Account ${shownPerson} · phonepass</title>`)
  const read = text(page)
  t.match(read, 'Joined with the code of +7 912 345 70 11', 'the inviter')
  t.match(read, 'Live sessions: 1')
  t.match(read, 'Chrome · Linux')
  t.match(read, '127.0.0.1')
  t.match(read, 'Codes sent (no known device)', 'the phone\'s counters, in words')
  t.match(page.body, `<code>code:phone:${personPhone}:h</code>`, 'and by key')

  const inviterPage = text(await admin.get(`/admin/users/${inviter.user.id}`))
  t.match(inviterPage, 'Joined with this code: 1')
  t.match(inviterPage, shownPerson, 'the invitee is listed')
  t.match(inviterPage, 'No code activated')

  t.equal((await admin.get('/admin/users/999999')).statusCode, 404, 'no such account: 404')
  t.match((await admin.get('/admin/users/999999')).body, 'There is no account with this id or phone')
})

t.test('each action asks first: the confirmation changes nothing; the account\'s page has no button that acts', async t => {
  const context = await buildAdminApp(t)
  const admin = await signedInAdmin(context)
  const person = await signIn(context, personPhone)
  const id = person.user.id
  const page = await admin.get(`/admin/users/${id}`)
  for (const action of ['end-sessions', 'block', 'clear-limits', 'delete']) {
    t.match(page.body, `<a href="/admin/users/${id}/${action}">`, `${action}: a link to its confirmation`)
    t.notMatch(page.body, `action="/admin/users/${id}/${action}"`, `${action}: no form that acts at once`)
    const confirm = await admin.get(`/admin/users/${id}/${action}`)
    t.equal(confirm.statusCode, 200, `${action}: its confirmation page`)
    t.match(confirm.body, `<form method="post" action="/admin/users/${id}/${action}" novalidate>`)
    t.match(confirm.body, `<a href="/admin/users/${id}">Cancel</a>`)
  }
  t.match(page.body, `action="/admin/users/${id}/sessions/confirm"`, 'a session\'s button leads to its confirmation')
  t.notMatch(page.body, `action="/admin/users/${id}/sessions/end"`)
  t.match((await admin.get(`/admin/users/${id}/block`)).body, '<textarea id="reason" name="reason" rows="3" required')
  t.match((await admin.get(`/admin/users/${id}/delete`)).body, 'class="danger">Delete the account</button>')
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(person.access) })).statusCode, 200, 'the person is still signed in')
  t.same(await auditRows(context), [], 'nothing was done')
})

t.test('end one session, then all: the person\'s browser and app are signed out; each action in the audit log', async t => {
  const context = await buildAdminApp(t)
  const admin = await signedInAdmin(context)
  const browser = new WebClient(context.app)
  await browser.signIn(context, personPhone)
  context.clock.advance(61_000)
  const app = await signIn(context, personPhone)
  const id = app.user.id

  const page = await admin.get(`/admin/users/${id}`)
  const sessionIds = [...page.body.matchAll(/name="session_id" value="([^"]+)"/g)].map(match => match[1] ?? '')
  t.equal(sessionIds.length, 2, 'both sessions listed')
  const browserSession = await context.app.db.selectFrom('sessions').select('id').where('kind', '=', 'web').where('user_id', '=', id).executeTakeFirstOrThrow()
  t.ok(sessionIds.includes(browserSession.id))

  const confirm = await admin.submit(`/admin/users/${id}`, `/admin/users/${id}/sessions/confirm`, { session_id: browserSession.id })
  t.equal(confirm.statusCode, 200)
  t.match(confirm.body, `End this session of <span class="phone-number">${shownPerson}</span>?`)
  t.match(confirm.body, `<input type="hidden" name="session_id" value="${browserSession.id}">`)
  t.equal((await browser.get('/profile')).statusCode, 200, 'the confirmation ended nothing')

  const ended = await admin.post(`/admin/users/${id}/sessions/end`, { _csrf: await admin.token(`/admin/users/${id}`), session_id: browserSession.id, reason: 'lost phone' })
  t.equal(ended.statusCode, 303)
  t.equal(ended.headers.location, `/admin/users/${id}`)
  const after = await admin.get(`/admin/users/${id}`)
  t.equal(notice(after), 'Sessions ended: 1.')
  t.match(text(after), 'Live sessions: 1')
  t.equal((await browser.get('/profile')).headers.location, '/login?next=%2Fprofile', 'the browser is signed out')
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(app.access) })).statusCode, 200, 'the app is not')

  const gone = await admin.submit(`/admin/users/${id}`, `/admin/users/${id}/sessions/confirm`, { session_id: browserSession.id })
  t.equal(gone.statusCode, 404, 'an ended session has no confirmation')
  t.match(gone.body, 'This account has no session with this id.')

  const { posted, next } = await confirmAndPost(admin, `/admin/users/${id}/end-sessions`, `/admin/users/${id}/end-sessions`)
  t.equal(posted.headers.location, `/admin/users/${id}`)
  t.equal(notice(next), 'Sessions ended: 1.')
  t.match(text(next), 'No live session.')
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(app.access) })).statusCode, 401, 'the app is signed out')

  const entries = await auditRows(context)
  t.same(entries.map(entry => [entry.action, entry.actor_kind, entry.actor, Number(entry.target_user_id), entry.target_phone, entry.ip]), [
    ['session.revoke', 'phone', adminPhone, id, personPhone, '127.0.0.1'],
    ['sessions.revoke_all', 'phone', adminPhone, id, personPhone, '127.0.0.1']
  ])
  t.match(JSON.parse(entries[0]?.details ?? '{}'), { reason: 'lost phone', revoked: 1 })
  t.match(entries[0]?.request_id, /^req-/, 'the request id is kept')
  const auditSection = text(next).split('Admin actions on this account')[1] ?? ''
  t.match(auditSection, `Support ${shownAdmin}`)
  t.match(auditSection, 'All sessions ended')
  t.match(auditSection, 'Session ended')
  t.match(auditSection, 'Reason: lost phone')
})

t.test('block with a reason (none is refused beside the field), the person refused at sign-in, then unblock', async t => {
  const context = await buildAdminApp(t)
  const admin = await signedInAdmin(context)
  const person = await signIn(context, personPhone)
  const id = person.user.id

  const noReason = await admin.submit(`/admin/users/${id}/block`, `/admin/users/${id}/block`, { reason: '  ' })
  t.equal(noReason.statusCode, 400)
  t.match(noReason.body, '<p class="error" id="reason-error">Give a reason of 1 to 500 characters.')
  t.match(noReason.body, 'aria-describedby="reason-hint reason-error" aria-invalid="true" autofocus')
  t.match(noReason.body, `<h1>Block <span class="phone-number">${shownPerson}</span>?</h1>`, 'the same confirmation again')
  const tooLong = await admin.submit(`/admin/users/${id}/block`, `/admin/users/${id}/block`, { reason: 'x'.repeat(501) })
  t.equal(tooLong.statusCode, 400)
  t.match(tooLong.body, `>${'x'.repeat(501)}</textarea>`, 'what was typed is kept')
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(person.access) })).statusCode, 200, 'not blocked yet')

  const { posted, next } = await confirmAndPost(admin, `/admin/users/${id}/block`, `/admin/users/${id}/block`, { reason: 'sends spam <b>invites</b>' })
  t.equal(posted.statusCode, 303)
  t.equal(posted.headers.location, `/admin/users/${id}`)
  t.equal(notice(next), 'The account is blocked. Sessions ended: 1.')
  t.match(next.body, 'Reason: sends spam &lt;b&gt;invites&lt;/b&gt;', 'the reason shown, escaped')
  t.match(next.body, `<a href="/admin/users/${id}/unblock">Unblock…</a>`)
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(person.access) })).statusCode, 401, 'the app is signed out')

  context.clock.advance(61_000)
  const browser = new WebClient(context.app)
  const refused = await browser.signIn(context, personPhone)
  t.equal(refused.statusCode, 403)
  t.match(refused.body, 'This account has been blocked.')

  const again = await confirmAndPost(admin, `/admin/users/${id}/block`, `/admin/users/${id}/block`, { reason: 'twice' })
  t.equal(notice(again.next), 'The account was blocked already; nothing changed.')

  const unblocked = await confirmAndPost(admin, `/admin/users/${id}/unblock`, `/admin/users/${id}/unblock`, { reason: 'ticket 42' })
  t.equal(notice(unblocked.next), 'The account is unblocked.')
  t.match(text(unblocked.next), 'State Active')
  context.clock.advance(61_000)
  t.equal((await new WebClient(context.app).signIn(context, personPhone)).headers.location, '/profile', 'the person signs in again')

  const entries = await auditRows(context)
  t.same(entries.map(entry => entry.action), ['user.block', 'user.block', 'user.unblock'])
  t.match(JSON.parse(entries[0]?.details ?? '{}'), { reason: 'sends spam <b>invites</b>', changed: true, revoked: 1 })
  const log = await admin.get('/admin/audit')
  t.equal(log.statusCode, 200)
  t.match(log.body, '<caption id="audit-caption"><span>Admin actions and reads, newest first</span></caption>')
  const rows = text(log)
  t.match(rows, `Support ${shownAdmin} Unblocked Reason: ticket 42 ${shownPerson} 127.0.0.1`, 'who, what, whom, from where')
  t.match(rows, `Blocked Nothing changed Reason: twice ${shownPerson}`)
  t.match(log.body, `<a href="/admin/users/${id}" class="phone-number">${shownPerson}</a>`, 'whom links to the account')
})

t.test('clear the counters of an account\'s phone, and of a phone without an account', async t => {
  const context = await buildAdminApp(t)
  const admin = await signedInAdmin(context)
  const person = await signIn(context, personPhone)
  const id = person.user.id
  // Send quotas only (issue 22): the wrong-code and device counters stay.
  const counters = async (phone: string) => await context.app.db.selectFrom('limit_counters').select('key').where('key', 'like', `code:%${phone}%`).execute()
  t.ok((await counters(personPhone)).length > 0, 'the sign-in counted')

  const { posted, next } = await confirmAndPost(admin, `/admin/users/${id}/clear-limits`, `/admin/users/${id}/clear-limits`)
  t.equal(posted.statusCode, 303)
  t.match(notice(next), /^Counters cleared: [1-9]\d*\.$/)
  t.notMatch(next.body, `<code>code:`, 'no send quota is left on the page; the wrong-code counter stays (issue 22)')
  t.match(next.body, `<code>wrong:phone:${personPhone}:d</code>`)
  t.same(await counters(personPhone), [])

  // A number that never signed up can still be held back: the search shows its counters.
  await context.app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: otherPhone } })
  const search = await admin.submit('/admin', '/admin/search', { phone: otherPhone })
  t.equal(search.statusCode, 200)
  t.match(search.body, 'No account has <span class="phone-number">+7 912 345 70 11</span>.')
  t.match(search.body, `<code>code:phone:${otherPhone}:h</code>`)
  const confirm = await admin.submit('/admin', '/admin/limits/confirm', { phone: otherPhone })
  t.equal(confirm.statusCode, 200)
  t.match(confirm.body, 'Clear the send counters of <span class="phone-number">+7 912 345 70 11</span>?')
  t.ok((await counters(otherPhone)).length > 0, 'the confirmation cleared nothing')
  const cleared = await admin.post('/admin/limits/clear', { _csrf: await admin.token('/admin'), phone: otherPhone, reason: 'no code since Monday' })
  t.equal(cleared.headers.location, '/admin')
  t.match(notice(await admin.get('/admin')), /^Counters cleared: [1-9]\d*\.$/)
  t.same(await counters(otherPhone), [])
  const entries = await auditRows(context)
  t.same(entries.map(entry => [entry.action, entry.target_user_id === null ? null : Number(entry.target_user_id), entry.target_phone]), [
    ['limits.clear', id, personPhone],
    ['limits.clear', null, otherPhone]
  ])
  const badPhone = await admin.submit('/admin', '/admin/limits/confirm', { phone: '12abc' })
  t.equal(badPhone.statusCode, 400)
  t.match(badPhone.body, 'id="phone-error">Enter a valid phone number')
})

t.test('delete an account: signed out, gone from the pages, kept in the audit log', async t => {
  const context = await buildAdminApp(t)
  const admin = await signedInAdmin(context)
  const person = await signIn(context, personPhone)
  const id = person.user.id
  const confirm = await admin.get(`/admin/users/${id}/delete`)
  t.match(confirm.body, 'This cannot be undone.')
  const { posted, next } = await confirmAndPost(admin, `/admin/users/${id}/delete`, `/admin/users/${id}/delete`, { reason: 'asked by phone' })
  t.equal(posted.headers.location, '/admin')
  t.equal(notice(next), 'The account is deleted.')
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(person.access) })).statusCode, 401, 'signed out')
  const page = await admin.get(`/admin/users/${id}`)
  t.equal(page.statusCode, 404)
  t.match(page.body, 'There is no account with this id or phone')
  const again = await admin.submit('/admin', `/admin/users/${id}/delete`, { reason: 'twice' })
  t.equal(again.statusCode, 404, 'a second deletion (a stale confirmation) finds no account')
  t.match(again.body, 'There is no account with this id or phone')
  t.match(text(await admin.get('/admin/audit')), `Account deleted Reason: asked by phone ${shownPerson}`)
  t.same((await auditRows(context)).map(entry => entry.action), ['user.delete'])
})

t.test('CSRF: no token is the 403 page, a stale token goes back to the support pages; nothing done either way', async t => {
  const context = await buildAdminApp(t)
  const admin = await signedInAdmin(context)
  const person = await signIn(context, personPhone)
  const id = person.user.id
  const token = await admin.token('/admin')
  const other = new WebClient(context.app)
  const foreign = await other.token()

  for (const url of [`/admin/users/${id}/block`, `/admin/users/${id}/delete`, `/admin/users/${id}/end-sessions`, '/admin/search', '/admin/limits/clear', `/admin/users/${id}/sessions/end`]) {
    const missing = await admin.post(url, { reason: 'x', phone: personPhone, session_id: 'x' })
    t.equal(missing.statusCode, 403, `${url}: no token`)
    t.match(missing.body, '<h1>Request refused</h1>')
    const crossSite = await admin.post(url, { _csrf: token, reason: 'x', phone: personPhone, session_id: 'x' }, { 'sec-fetch-site': 'cross-site' })
    t.equal(crossSite.statusCode, 403, `${url}: cross-site`)
  }
  const stale = await admin.post(`/admin/users/${id}/block`, { _csrf: foreign, reason: 'spam' })
  t.equal(stale.statusCode, 303)
  t.equal(stale.headers.location, '/admin')
  t.equal(notice(await admin.get('/admin')), 'That page was out of date, so nothing was done. Please try again.')
  t.same(await auditRows(context), [], 'nothing was done')
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(person.access) })).statusCode, 200)
})

t.test('the pages in Russian and English, the SMS spend against the cap', async t => {
  const context = await buildTestApp(t, { ADMIN_PHONES: adminPhone, SMS_HOURLY_CAP: '40', LIMIT_CODES_PER_IP_HOUR: '10000' })
  const person = await signIn(context, personPhone)
  const id = person.user.id
  const ru = await signedInAdmin(context, adminPhone, { 'accept-language': 'ru' })
  const home = await ru.get('/admin')
  t.match(home.body, '<html lang="ru">')
  t.match(home.body, '<h1>Поддержка</h1>')
  t.match(home.body, 'Учётные записи, сначала новые')
  t.match(text(home), 'За этот час 2 из 40 разрешённых в час', 'two codes sent this hour, of the cap')
  t.match(text(home), 'Сегодня (UTC) 2')
  t.match((await ru.get(`/admin/users/${id}`)).body, `<h1>Учётная запись <span class="phone-number">${shownPerson}</span></h1>`)
  t.match((await ru.get(`/admin/users/${id}/block`)).body, `<h1>Заблокировать <span class="phone-number">${shownPerson}</span>?</h1>`)
  const refused = await ru.submit(`/admin/users/${id}/block`, `/admin/users/${id}/block`, { reason: '' })
  t.match(refused.body, 'id="reason-error">Укажите причину длиной от 1 до 500 символов.')
  await ru.submit(`/admin/users/${id}/block`, `/admin/users/${id}/block`, { reason: 'спам' })
  t.equal(notice(await ru.get(`/admin/users/${id}`)), 'Учётная запись заблокирована. Завершено сеансов: 1.')
  t.match(text(await ru.get('/admin/audit')), `Поддержка ${shownAdmin} Блокировка Завершено сеансов: 1 Причина: спам`)

  const en = new WebClient(context.app)
  for (const [name, value] of ru.cookies) en.cookies.set(name, value)
  en.cookies.set('phonepass_lang', 'en')
  const english = await en.get('/admin')
  t.match(english.body, '<h1>Support</h1>')
  t.match(text(english), 'This hour 2 of 40 allowed an hour')
  t.match(text(await en.get('/admin/audit')), `Support ${shownAdmin} Blocked Sessions ended: 1 Reason: спам`)
})

t.test('five admins block one account at the same moment: one blocks it, four are told it was blocked already', async t => {
  const admins = ['+79123457021', '+79123457022', '+79123457023', '+79123457024', '+79123457025']
  const context = await buildAdminApp(t, admins.join(','))
  const clients = await Promise.all(admins.map(async phone => await signedInAdmin(context, phone)))
  const person = await signIn(context, personPhone)
  const id = person.user.id
  const tokens = await Promise.all(clients.map(async client => await client.token(`/admin/users/${id}/block`)))
  const posted = await Promise.all(clients.map(async (client, i) => await client.post(`/admin/users/${id}/block`, { _csrf: tokens[i] ?? '', reason: `ticket ${i}` })))
  t.same(posted.map(res => res.statusCode), [303, 303, 303, 303, 303])
  const notices = await Promise.all(clients.map(async client => notice(await client.get(`/admin/users/${id}`))))
  t.same(notices.filter(text => text === 'The account is blocked. Sessions ended: 1.').length, 1, 'one block ended the session')
  t.same(notices.filter(text => text === 'The account was blocked already; nothing changed.').length, 4, 'the others changed nothing, and say so')
  const entries = await auditRows(context)
  t.equal(entries.length, 5, 'each action is in the log')
  const changed = entries.filter(entry => (JSON.parse(entry.details) as { changed?: boolean }).changed === true)
  t.equal(changed.length, 1)
  const user = await context.app.db.selectFrom('users').select('blocked_reason').where('id', '=', id).executeTakeFirstOrThrow()
  t.equal(user.blocked_reason, (JSON.parse(changed[0]?.details ?? '{}') as { reason?: string }).reason, 'the reason kept is the one of the block that changed it')
  t.match(text(await clients[0]!.get('/admin/audit')), 'Nothing changed')
})
