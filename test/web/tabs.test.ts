import t from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { WebClient } from './web-client.js'

// Two tabs of one browser share one cookie. Signing in or out in one starts a new cookie, and
// with it a new CSRF secret, so every form open in the other tab carries a stale token.

const phone = '+79123456789'
const expired = 'That page was out of date, so nothing was done. Please try again.'

/** A browser, and the token of a sign-in page left open in a second tab while the first signed in and out. */
async function staleSignInPage (context: TestContext): Promise<{ browser: WebClient, tab2: string }> {
  const browser = new WebClient(context.app)
  const tab2 = await browser.token('/login')
  await browser.signIn(context, phone)
  await browser.submit('/profile', '/logout')
  return { browser, tab2 }
}

async function liveSessions (context: TestContext) {
  return await context.app.db.selectFrom('sessions').select(['id', 'user_id']).where('revoked_at', 'is', null).execute()
}

t.test('(a) signing out in a second tab after the first signed out lands on the signed-out page', async t => {
  const context = await buildTestApp(t)
  const browser = new WebClient(context.app)
  await browser.signIn(context, phone)
  const tab2 = await browser.token('/profile')
  t.equal((await browser.submit('/profile', '/logout')).headers.location, '/login', 'tab 1 signs out')
  await browser.get('/login')

  const out = await browser.post('/logout', { _csrf: tab2 })
  t.equal(out.statusCode, 303, 'not the 403 page')
  t.equal(out.headers.location, '/login')
  const page = await browser.get('/login')
  t.match(page.body, '<p class="notice" role="status">You have signed out.</p>')
  t.notMatch(page.body, expired)
})

t.test('(b) a code submitted in a second tab after the first signed in goes to the profile', async t => {
  const context = await buildTestApp(t)
  const browser = new WebClient(context.app)
  await browser.submit('/login', '/login', { phone })
  const tab2 = await browser.token('/login/code')
  const code = context.sms.lastCode(phone)
  t.equal((await browser.post('/login/code', { _csrf: tab2, auth_code: code })).headers.location, '/profile', 'tab 1 signs in')

  const again = await browser.post('/login/code', { _csrf: tab2, auth_code: code })
  t.equal(again.statusCode, 303, 'not the 403 page')
  t.equal(again.headers.location, '/profile')
  const profile = await browser.get('/profile')
  t.equal(profile.statusCode, 200, 'still signed in')
  t.notMatch(profile.body, expired)
  t.equal((await liveSessions(context)).length, 1, 'no second session')
  const resend = await browser.post('/login/resend', { _csrf: tab2 })
  t.equal(resend.headers.location, '/profile', '"Send a new code" from the old tab: also the profile')
  t.equal(context.sms.messages.length, 1, 'and no code sent')
})

t.test('(c) a phone submitted from a sign-in page made stale by the other tab: back to the form, nothing sent', async t => {
  const context = await buildTestApp(t)
  const { browser, tab2 } = await staleSignInPage(context)
  context.clock.advance(61_000)
  const sent = context.sms.messages.length

  const posted = await browser.post('/login', { _csrf: tab2, phone })
  t.equal(posted.statusCode, 303, 'not the 403 page')
  t.equal(posted.headers.location, '/login')
  t.equal(context.sms.messages.length, sent, 'no code was sent on a stale token')
  const page = await browser.get('/login')
  t.match(page.body, `<p class="notice" role="status">${expired}</p>`)
  t.notMatch((await browser.get('/login')).body, expired, 'the message shows once')
  t.equal((await browser.submit('/login', '/login', { phone })).headers.location, '/login/code', 'trying again works')
  t.equal(context.sms.messages.length, sent + 1)
})

t.test('(d) a code submitted from a code page made stale by a sign-in and out since: back to the code page', async t => {
  const context = await buildTestApp(t)
  const browser = new WebClient(context.app)
  await browser.submit('/login', '/login', { phone })
  const tab2 = await browser.token('/login/code')
  await browser.submit('/login/code', '/login/code', { auth_code: context.sms.lastCode(phone) })
  await browser.submit('/profile', '/logout')
  context.clock.advance(61_000)
  await browser.submit('/login', '/login', { phone })
  const code = context.sms.lastCode(phone)

  const stale = await browser.post('/login/code', { _csrf: tab2, auth_code: code })
  t.equal(stale.statusCode, 303)
  t.equal(stale.headers.location, '/login/code')
  const page = await browser.get('/login/code')
  t.match(page.body, `<p class="notice" role="status">${expired}</p>`, 'the code page shows the message')
  t.equal((await liveSessions(context)).length, 0, 'not signed in on a stale token')
  t.equal((await browser.submit('/login/code', '/login/code', { auth_code: code })).headers.location, '/profile', 'the code still works')
})

t.test('a stale token on a signed-in form does nothing and leads back to its page', async t => {
  const context = await buildTestApp(t)
  const browser = new WebClient(context.app)
  const inviter = new WebClient(context.app)
  await inviter.signIn(context, '+79123456780')
  const code = await inviter.ownInviteCode()
  context.clock.advance(61_000)
  await browser.signIn(context, phone)
  const tab2 = await browser.token('/profile')
  // Tab 1 signs out and in again: the same person, a new cookie.
  await browser.submit('/profile', '/logout')
  context.clock.advance(61_000)
  await browser.signIn(context, phone)

  const invite = await browser.post('/profile/invite', { _csrf: tab2, invite_code: code })
  t.equal(invite.statusCode, 303)
  t.equal(invite.headers.location, '/profile')
  const page = await browser.get('/profile')
  t.match(page.body, expired)
  t.match(page.body, 'action="/profile/invite"', 'the code was not activated')
  const out = await browser.post('/logout', { _csrf: tab2 })
  t.equal(out.headers.location, '/profile', 'a stale sign-out of a signed-in browser signs no one out')
  t.equal((await browser.get('/profile')).statusCode, 200)
})

t.test('a stale token is still refused with 403 when the post is cross-site or carries no token', async t => {
  const context = await buildTestApp(t)
  const { browser, tab2 } = await staleSignInPage(context)
  for (const [what, headers] of [
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['a foreign Origin', { origin: 'https://evil.example' }]
  ] as const) {
    for (const url of ['/login', '/logout']) {
      const res = await browser.post(url, { _csrf: tab2, phone }, headers)
      t.equal(res.statusCode, 403, `${url}, ${what}`)
      t.match(res.body, '<h1>Request refused</h1>')
    }
  }
  t.equal((await browser.post('/logout', {})).statusCode, 403, 'no token at all: not one of our forms')
})
