import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { WebClient } from './web-client.js'

const phone = '+79123456789'

function wrong (code: string): string {
  return code === '0000' ? '1111' : '0000'
}

t.test('a browser that signed in before keeps its own budget when a stranger spends the phone\'s', async t => {
  const context = await buildTestApp(t, { LIMIT_WRONG_CODES_PER_PHONE_DAY: '3', LIMIT_CODES_PER_PHONE_HOUR: '20', LIMIT_CODES_PER_PHONE_DAY: '20' })
  const owner = new WebClient(context.app)
  t.equal((await owner.signIn(context, phone)).headers.location, '/profile')
  t.ok(owner.cookies.get('phonepass_device'), 'sign-in leaves a device cookie')
  await owner.submit('/profile', '/logout')
  t.ok(owner.cookies.get('phonepass_device'), 'and it outlives the sign-out')

  // A stranger asks for codes and guesses until the phone's day budget is spent.
  const stranger = new WebClient(context.app, { 'x-forwarded-for': '203.0.113.9' })
  context.clock.advance(61_000)
  await stranger.submit('/login', '/login', { phone })
  let refused
  for (let i = 0; i < 5 && refused === undefined; i++) {
    const guess = await stranger.submit('/login/code', '/login/code', { auth_code: wrong(context.sms.lastCode(phone)) })
    if (guess.statusCode === 429) refused = guess
  }
  t.equal(refused?.statusCode, 429, 'the stranger is stopped')

  // A new browser is refused too, even with the right code.
  const newcomer = new WebClient(context.app)
  context.clock.advance(61_000)
  await newcomer.submit('/login', '/login', { phone })
  const newcomerTry = await newcomer.submit('/login/code', '/login/code', { auth_code: context.sms.lastCode(phone) })
  t.equal(newcomerTry.statusCode, 429, 'a new device waits for the window to end')

  // The owner's browser still signs in.
  context.clock.advance(61_000)
  const asked = await owner.submit('/login', '/login', { phone })
  t.equal(asked.statusCode, 303)
  const back = await owner.submit('/login/code', '/login/code', { auth_code: context.sms.lastCode(phone) })
  t.equal(back.statusCode, 303)
  t.equal(back.headers.location, '/profile')
})

t.test('the device cookie is Secure with the __Host- prefix over HTTPS', async t => {
  const context = await buildTestApp(t, { TRUST_PROXY: 'true' })
  const client = new WebClient(context.app, { 'x-forwarded-proto': 'https' })
  await client.signIn(context, phone)
  const res = await client.get('/profile')
  t.equal(res.statusCode, 200)
  t.ok(client.cookies.get('__Host-phonepass_device'))
  t.notOk(client.cookies.get('phonepass_device'))
})
