import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { WebClient } from './web-client.js'

// Deleting an account on the pages: a link on the profile, a page that says what goes and what
// stays, a code sent to the account's own phone, then a signed-out confirmation. Forms only,
// no JavaScript; CSRF and the same-site check as every other form.

t.test('profile → what goes and what stays → code → deleted and signed out', async t => {
  const context = await buildTestApp(t)
  const phone = '+79123475001'
  const browser = new WebClient(context.app)
  t.equal((await browser.signIn(context, phone)).statusCode, 303)
  const profile = await browser.get('/profile')
  t.match(profile.body, '<a href="/profile/delete">Delete my account</a>')

  const page = await browser.get('/profile/delete')
  t.equal(page.statusCode, 200)
  t.match(page.body, 'Erased at once')
  t.match(page.body, 'Your invite code is never given to anyone else')
  const sent = await browser.submit('/profile/delete', '/profile/delete')
  t.equal(sent.statusCode, 429, 'the sign-in\'s code was sent a moment ago: the usual spacing')
  t.match(sent.body, 'A code was sent a moment ago')

  context.clock.advance(61_000)
  const again = await browser.submit('/profile/delete', '/profile/delete')
  t.equal(again.statusCode, 303)
  t.equal(again.headers.location, '/profile/delete/code')
  t.equal(context.sms.messages.at(-1)?.to, phone, 'the code goes to the account\'s own phone')
  const code = context.sms.lastCode(phone)

  const codePage = await browser.get('/profile/delete/code')
  t.equal(codePage.statusCode, 200)
  t.match(codePage.body, 'This cannot be undone.')
  const wrong = await browser.submit('/profile/delete/code', '/profile/delete/code', { auth_code: code === '0000' ? '1111' : '0000' })
  t.equal(wrong.statusCode, 400)
  t.match(wrong.body, 'aria-invalid')
  t.equal((await browser.get('/profile')).statusCode, 200, 'a wrong code deletes nothing')

  const deleted = await browser.submit('/profile/delete/code', '/profile/delete/code', { auth_code: code })
  t.equal(deleted.statusCode, 303)
  t.equal(deleted.headers.location, '/account-deleted')
  const done = await browser.get('/account-deleted')
  t.equal(done.statusCode, 200)
  t.match(done.body, 'Your account is deleted and you are signed out.')
  t.notMatch(done.body, 'action="/logout"', 'signed out: no sign-out button')
  t.equal((await browser.get('/profile')).statusCode, 303, 'the profile asks for a sign-in')
  const row = await context.app.db.selectFrom('users').select(['phone', 'deleted_at']).executeTakeFirstOrThrow()
  t.equal(row.deleted_at, context.clock.now())
  t.not(row.phone, phone)
})

t.test('in Russian', async t => {
  const context = await buildTestApp(t)
  const browser = new WebClient(context.app, { 'accept-language': 'ru' })
  await browser.signIn(context, '+79123475011')
  t.match((await browser.get('/profile')).body, 'Удалить мою учётную запись')
  const page = await browser.get('/profile/delete')
  t.match(page.body, 'Удаляется сразу')
  t.match(page.body, 'Что остаётся')
  context.clock.advance(61_000)
  await browser.submit('/profile/delete', '/profile/delete')
  t.match((await browser.get('/profile/delete/code')).body, 'Это нельзя отменить.')
  const code = context.sms.lastCode('+79123475011')
  t.equal((await browser.submit('/profile/delete/code', '/profile/delete/code', { auth_code: code })).statusCode, 303)
  t.match((await browser.get('/account-deleted')).body, 'Ваша учётная запись удалена, и вы вышли.')
})

t.test('the locks: signed out, no CSRF token, another site', async t => {
  const context = await buildTestApp(t)
  const stranger = new WebClient(context.app)
  const away = await stranger.get('/profile/delete')
  t.equal(away.statusCode, 303)
  t.equal(away.headers.location, '/login?next=%2Fprofile%2Fdelete')

  const browser = new WebClient(context.app)
  await browser.signIn(context, '+79123475021')
  context.clock.advance(61_000)
  await browser.submit('/profile/delete', '/profile/delete')
  const code = context.sms.lastCode('+79123475021')
  t.equal((await browser.post('/profile/delete/code', { auth_code: code })).statusCode, 403, 'no CSRF token')
  const token = await browser.token('/profile/delete/code')
  t.equal((await browser.post('/profile/delete/code', { _csrf: token, auth_code: code }, { 'sec-fetch-site': 'cross-site' })).statusCode, 403, 'from another site')
  t.equal((await browser.get('/profile')).statusCode, 200, 'still there')
  t.equal((await browser.post('/profile/delete/code', { _csrf: token, auth_code: code })).statusCode, 303)
})
