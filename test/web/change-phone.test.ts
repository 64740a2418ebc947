import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { WebClient } from './web-client.js'

// Changing one's number on the pages: forms only, CSRF and the same-site check as every form.

t.test('profile → new number → its code → the profile on the new number; the old number is told', async t => {
  const context = await buildTestApp(t)
  const browser = new WebClient(context.app)
  await browser.signIn(context, '+79123479501')
  t.match((await browser.get('/profile')).body, '<a href="/profile/phone">Change my number</a>')
  t.equal((await browser.get('/profile/phone/code')).headers.location, '/profile/phone', 'no number asked yet')
  const bad = await browser.submit('/profile/phone', '/profile/phone', { phone: 'nonsense' })
  t.equal(bad.statusCode, 400)
  t.match(bad.body, 'aria-invalid')
  const sent = await browser.submit('/profile/phone', '/profile/phone', { phone: '+79123479502' })
  t.equal(sent.statusCode, 303)
  t.equal(sent.headers.location, '/profile/phone/code')
  t.equal(context.sms.messages.at(-1)?.to, '+79123479502')
  const code = context.sms.lastCode('+79123479502')
  t.equal((await browser.submit('/profile/phone/code', '/profile/phone/code', { auth_code: code === '0000' ? '1111' : '0000' })).statusCode, 400)
  const moved = await browser.submit('/profile/phone/code', '/profile/phone/code', { auth_code: code })
  t.equal(moved.statusCode, 303)
  t.equal(moved.headers.location, '/profile')
  const profile = await browser.get('/profile')
  t.match(profile.body, 'Your number has been changed.')
  t.match(profile.body, '<dd>+7 912 347 95 02</dd>')
  t.equal(context.sms.messages.at(-1)?.to, '+79123479501', 'the old number is told')
})

t.test('a number with an account: 409 on the code page, in Russian; no token: 403', async t => {
  const context = await buildTestApp(t)
  const other = new WebClient(context.app)
  await other.signIn(context, '+79123479512')
  const browser = new WebClient(context.app, { 'accept-language': 'ru' })
  await browser.signIn(context, '+79123479511')
  t.match((await browser.get('/profile')).body, 'Сменить номер')
  context.clock.advance(61_000)
  t.equal((await browser.submit('/profile/phone', '/profile/phone', { phone: '+79123479512' })).statusCode, 303)
  const code = context.sms.lastCode('+79123479512')
  t.equal((await browser.post('/profile/phone/code', { auth_code: code })).statusCode, 403, 'no CSRF token')
  const taken = await browser.submit('/profile/phone/code', '/profile/phone/code', { auth_code: code })
  t.equal(taken.statusCode, 409)
  t.match(taken.body, 'С этим номером уже есть учётная запись.')
})
