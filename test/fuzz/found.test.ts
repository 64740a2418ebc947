import t from 'tap'
import { bearer, buildTestApp, post, signIn } from '../helpers/app.js'
import { WebClient } from '../web/web-client.js'

// What the property tests of this folder found, each pinned by a plain example.

t.test('behind TRUST_PROXY, an X-Forwarded-For that is no address is not taken for one', async t => {
  const context = await buildTestApp(t, { TRUST_PROXY: 'true' })
  // Before: stored as the client's address, and on PostgreSQL too long for its column (a 500).
  const cases: Array<[string, string]> = [
    ['x'.repeat(100), '127.0.0.1'],
    [`fe80::1%${'x'.repeat(100)}`, '127.0.0.1'],
    ['unknown, 203.0.113.7', '203.0.113.7'],
    ['2001:db8::1', '2001:db8::1']
  ]
  for (const [i, [forwarded, stored]] of cases.entries()) {
    const headers = { 'x-forwarded-for': forwarded }
    const phone = `+7912345670${i}`
    t.equal((await post(context.app, '/api/users/register/', { phone }, headers)).statusCode, 200, `register: ${forwarded.slice(0, 20)}`)
    const verified = await post(context.app, '/api/users/verify_code/', { phone, auth_code: context.sms.lastCode(phone) }, headers)
    t.equal(verified.statusCode, 200, `verify: ${forwarded.slice(0, 20)}`)
    const sid = JSON.parse(Buffer.from(String(verified.json().access).split('.')[1] ?? '', 'base64url').toString()).sid as string
    const session = await context.app.db.selectFrom('sessions').select('ip').where('id', '=', sid).executeTakeFirstOrThrow()
    t.equal(session.ip, stored, `kept as the client's address: ${stored}`)
  }
})

t.test('a path the router cannot decode is a 404 with a message: JSON under /api, a page elsewhere', async t => {
  const context = await buildTestApp(t)
  // Before: fastify's own 400 {"error":"Bad Request","code":"FST_ERR_BAD_URL",...}, no detail.
  const api = await context.app.inject({ url: '/api/users/%ED%A0%80/' })
  t.equal(api.statusCode, 404)
  t.same(api.json(), { detail: 'Not found.', code: 'not_found' })
  for (const url of ['/%ED%A0%80', '/language/%ED%A0%80', `/language/${'x'.repeat(200)}`]) {
    const page = await context.app.inject({ url, headers: { 'accept-language': 'ru' } })
    t.equal(page.statusCode, 404, url.slice(0, 30))
    t.match(page.headers['content-type'], /^text\/html/)
    t.match(page.body, '<p class="lead">По этому адресу ничего нет.</p>')
  }
})

t.test('an object in a form field (a JSON post) comes back as the form with a message, not a 500', async t => {
  const context = await buildTestApp(t)
  const client = new WebClient(context.app)
  const token = await client.token()
  // Before: the template printed the value, {"toString": 1}.toString() threw, and the 500's
  // message named the template file.
  for (const phone of [{ toString: 1 }, { valueOf: 'x', toString: 'y' }, ['+7', { toString: 1 }]]) {
    const res = await context.app.inject({
      method: 'POST', url: '/login', payload: { _csrf: token, phone, next: { toString: 1 } }, headers: { cookie: client.cookieHeader(), 'sec-fetch-site': 'same-origin' }
    })
    t.equal(res.statusCode, 400, JSON.stringify(phone))
    t.match(res.body, '<p class="error" id="phone-error">Must be text. </p>')
    t.match(res.body, 'value=""', 'nothing but text is shown again')
  }
})

t.test('a refused invite post is shown on the profile to the person signed in, and sends anyone else to sign in', async t => {
  const context = await buildTestApp(t)
  // Before: the profile was rendered for a request whose sign-in had not been checked yet, and
  // the answer was fastify's JSON 401.
  const stranger = new WebClient(context.app)
  const token = await stranger.token()
  const empty = await stranger.post('/profile/invite', { _csrf: token })
  t.equal(empty.statusCode, 303)
  t.equal(empty.headers.location, '/login?next=%2Fprofile')
  const huge = await stranger.post('/profile/invite', { _csrf: token, invite_code: 'x'.repeat(20_000) })
  t.equal(huge.headers.location, '/login?next=%2Fprofile')

  const person = new WebClient(context.app)
  await person.signIn(context, '+79123456701')
  const own = await person.token('/profile')
  const tooLarge = await person.post('/profile/invite', { _csrf: own, invite_code: 'x'.repeat(20_000) })
  t.equal(tooLarge.statusCode, 413)
  t.match(tooLarge.body, '<div class="problem" role="alert"><h2>')
  t.match(tooLarge.body, 'The request body is too large.')
  t.match(tooLarge.body, 'action="/profile/invite"', 'the profile with its form')
  const notAForm = await person.post('/profile/invite', { _csrf: own }, { 'content-type': 'application/xml', 'x-csrf-token': own })
  t.equal(notAForm.statusCode, 415)
  t.match(notAForm.body, 'Send the body as JSON or as a form.')
})

t.test('errors no face handles answer {detail, code}, never fastify\'s raw message', async t => {
  const context = await buildTestApp(t)
  // Before: @fastify/static's 403 {"statusCode":403,"code":"FST_STATIC_FORBIDDEN_PATH",...}.
  const res = await context.app.inject({ url: `/assets/${'x'.repeat(300)}` })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { detail: 'Not found.', code: 'not_found' })
  const { access } = await signIn(context, '+79123456702')
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(access) })).statusCode, 200, 'the API keeps its own handler')
})

t.test('a bearer logout with Content-Type: application/json and no body signs out, as the Django service did', async t => {
  const context = await buildTestApp(t)
  const { access } = await signIn(context, '+79123456701')
  // Before: 400 parse_error (fastify refuses an empty JSON body), so such apps could not sign out.
  const res = await context.app.inject({ method: 'POST', url: '/api/users/logout/', headers: { ...bearer(access), 'content-type': 'application/json' } })
  t.equal(res.statusCode, 204)
  t.equal((await context.app.inject({ url: '/api/users/me/', headers: bearer(access) })).statusCode, 401, 'signed out')
  const register = await context.app.inject({ method: 'POST', url: '/api/users/register/', headers: { 'content-type': 'application/json' } })
  t.same(register.json(), { detail: 'The request body could not be read: send valid JSON or a form.', code: 'parse_error' }, 'elsewhere an empty JSON body is still refused')
  const poisoned = await context.app.inject({ method: 'POST', url: '/api/users/logout/', payload: '{"__proto__":{"polluted":1}}', headers: { 'content-type': 'application/json' } })
  t.equal(poisoned.json().code, 'parse_error', 'and a poisoned one too')
})

t.test('an invite post from a page opened before the code was activated shows why it was refused', async t => {
  const context = await buildTestApp(t)
  const inviter = await signIn(context, '+79123456701')
  const person = new WebClient(context.app)
  await person.signIn(context, '+79123456702')
  const oldTab = await person.token('/profile')
  t.equal((await person.post('/profile/invite', { _csrf: oldTab, invite_code: inviter.user.invite_code })).statusCode, 303)
  // Before: the message went beside the invite field, which the page no longer has: none showed.
  const again = await person.post('/profile/invite', { _csrf: oldTab, invite_code: inviter.user.invite_code })
  t.equal(again.statusCode, 409)
  t.match(again.body, /<div class="problem" role="alert"><h2>[^<]+<\/h2><p>You have already activated an invite code.<\/p><\/div>/)
  const malformed = await person.post('/profile/invite', { _csrf: oldTab, invite_code: '#' })
  t.equal(malformed.statusCode, 400)
  t.match(malformed.body, /role="alert"><h2>[^<]+<\/h2><p>An invite code is 6 letters and digits/)
})
