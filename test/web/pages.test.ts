import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { localPathOr } from '../../src/http/web/local-path.js'
import { keepPhonesWhole } from '../../src/http/web/render.js'
import { spoiled, WebClient } from './web-client.js'

const phoneA = '+79123456789'
const phoneB = '+79123456780'

t.test('/ sends each visitor to the right screen', async t => {
  const context = await buildTestApp(t)
  const client = new WebClient(context.app)
  t.equal((await client.get('/')).headers.location, '/login')
  await client.submit('/login', '/login', { phone: phoneA })
  t.equal((await client.get('/')).headers.location, '/login/code')
  await client.submit('/login/code', '/login/code', { auth_code: context.sms.lastCode(phoneA) })
  const home = await client.get('/')
  t.equal(home.statusCode, 303)
  t.equal(home.headers.location, '/profile')
})

t.test('sign in, activate a code, see the list, sign out: each step a 303 to a page', async t => {
  const context = await buildTestApp(t)
  const inviter = new WebClient(context.app)
  t.equal((await inviter.signIn(context, phoneA)).headers.location, '/profile')
  const inviterCode = await inviter.ownInviteCode()
  t.match(inviterCode, /^[A-Z0-9]{6}$/)

  const person = new WebClient(context.app)
  const login = await person.get('/login')
  t.equal(login.statusCode, 200)
  t.match(login.headers['content-type'], /^text\/html/)
  t.equal(login.headers['cache-control'], 'no-store')
  const sent = await person.post('/login', { _csrf: await person.token(), phone: '8 912 345-67-80' })
  t.equal(sent.statusCode, 303)
  t.equal(sent.headers.location, '/login/code')
  t.equal(context.sms.messages.at(-1)?.to, phoneB)
  const codePage = await person.get('/login/code')
  t.equal(codePage.statusCode, 200)
  t.match(codePage.body, 'We sent a code to <span class="phone-number">+7 912 345 67 80</span>.', 'the phone in international format, kept on one line')
  t.match(codePage.body, 'You can ask for a new code in 60 seconds.')
  const signedIn = await person.submit('/login/code', '/login/code', { auth_code: context.sms.lastCode(phoneB) })
  t.equal(signedIn.statusCode, 303)
  t.equal(signedIn.headers.location, '/profile')
  const profile = await person.get('/profile')
  t.equal(profile.statusCode, 200)
  t.match(profile.body, '<dd>+7 912 345 67 80</dd>')
  t.match(profile.body, 'Joined with your code: 0')

  const activated = await person.submit('/profile', '/profile/invite', { invite_code: inviterCode.toLowerCase() })
  t.equal(activated.statusCode, 303)
  t.equal(activated.headers.location, '/profile')
  const after = (await person.get('/profile')).body
  t.match(after, 'Invite code activated.')
  t.match(after, `<code class="code">${inviterCode}</code>`)
  t.notMatch(after, 'action="/profile/invite"', 'the form is gone once a code is activated')
  t.notMatch((await person.get('/profile')).body, 'Invite code activated.', 'the message shows once')

  const list = (await inviter.get('/profile')).body
  t.match(list, 'Joined with your code: 1')
  t.match(list, '<li>+7 912 345 67 80</li>')

  const out = await person.submit('/profile', '/logout')
  t.equal(out.statusCode, 303)
  t.equal(out.headers.location, '/login')
  t.match((await person.get('/login')).body, 'You have signed out.')
  t.equal((await person.get('/profile')).headers.location, '/login?next=%2Fprofile')
})

t.test('a refused form comes back with the message beside the field, the value kept, and the status', async t => {
  const context = await buildTestApp(t)
  const client = new WebClient(context.app)
  const bad = await client.submit('/login', '/login', { phone: '12abc' })
  t.equal(bad.statusCode, 400)
  t.match(bad.body, /<p class="error" id="phone-error">Enter a valid phone number/)
  t.match(bad.body, /value="12abc"/)
  t.match(bad.body, /aria-describedby="phone-hint phone-error" aria-invalid="true"/)
  t.match(bad.body, 'href="/language/ru?next=%2F"', 'the language switch after a post leads to a page, not to the form action')

  const missing = await client.post('/login', { _csrf: await client.token() })
  t.equal(missing.statusCode, 400)
  t.match(missing.body, 'id="phone-error">This field is required.')

  t.equal((await client.submit('/login', '/login', { phone: phoneA })).statusCode, 303)
  const wrong = await client.submit('/login/code', '/login/code', { auth_code: context.sms.lastCode(phoneA) === '0000' ? '1111' : '0000' })
  t.equal(wrong.statusCode, 400)
  t.match(wrong.body, 'id="auth_code-error">The code is wrong.')
  t.match(wrong.body, 'Tries left for this code: 2.')
  t.match(wrong.body, 'aria-invalid="true"')

  context.clock.advance(15_000)
  const soon = await client.submit('/login/code', '/login/resend')
  t.equal(soon.statusCode, 429)
  t.equal(soon.headers['retry-after'], '45')
  t.match(soon.body, 'role="alert"')
  t.match(soon.body, 'You can ask for a new one in 45 seconds.')
  context.clock.advance(45_000)
  const again = await client.submit('/login/code', '/login/resend')
  t.equal(again.statusCode, 303)
  t.equal(again.headers.location, '/login/code')
  t.equal(context.sms.messages.length, 2)

  const ru = new WebClient(context.app, { 'accept-language': 'ru' })
  const ruSoon = await ru.submit('/login', '/login', { phone: phoneA })
  t.equal(ruSoon.statusCode, 429)
  t.match(ruSoon.body, 'через 60 секунд')
  t.match(ruSoon.body, 'value="+79123456789"')
})

t.test('"Send a new code" says so on the code page, to screen readers too, in English and Russian', async t => {
  const context = await buildTestApp(t)
  for (const [language, phone, text] of [
    ['en', phoneA, 'We sent a new code. The code sent before no longer works.'],
    ['ru', phoneB, 'Мы отправили новый код. Прежний код больше не действует.']
  ] as const) {
    const client = new WebClient(context.app, { 'accept-language': language })
    await client.submit('/login', '/login', { phone })
    t.notMatch((await client.get('/login/code')).body, text, `${language}: not before a resend`)
    context.clock.advance(61_000)
    const resent = await client.submit('/login/code', '/login/resend')
    t.equal(resent.headers.location, '/login/code')
    const page = await client.get('/login/code')
    t.match(page.body, `<p class="notice" role="status">${text}</p>`, `${language}: the confirmation, announced`)
    t.notMatch((await client.get('/login/code')).body, text, `${language}: once`)
  }
})

t.test('invite errors: 400 for one\'s own or a malformed code, 404 for an unknown one, 409 for a second', async t => {
  const context = await buildTestApp(t)
  const a = new WebClient(context.app)
  await a.signIn(context, phoneA)
  const own = await a.ownInviteCode()
  const b = new WebClient(context.app)
  await b.signIn(context, phoneB)
  const bCode = await b.ownInviteCode()

  const mine = await a.submit('/profile', '/profile/invite', { invite_code: own })
  t.equal(mine.statusCode, 400)
  t.match(mine.body, 'id="invite_code-error">This is your own invite code.')
  t.match(mine.body, `value="${own}"`)
  t.equal((await a.submit('/profile', '/profile/invite', { invite_code: '#' })).statusCode, 400)
  const unknown = await a.submit('/profile', '/profile/invite', { invite_code: 'ZZZZZ9' === bCode ? 'ZZZZZ8' : 'ZZZZZ9' })
  t.equal(unknown.statusCode, 404)
  t.match(unknown.body, 'No one has this invite code.')
  t.equal((await a.submit('/profile', '/profile/invite', { invite_code: bCode })).statusCode, 303)
  const second = await b.submit('/profile', '/profile/invite', { invite_code: own })
  t.equal(second.statusCode, 409)
  t.match(second.body, 'This code belongs to someone who joined with your code')
})

t.test('CSRF: a cross-site post or one without a token gets the 403 page; a same-site one with a bad token goes back to the form', async t => {
  const context = await buildTestApp(t)
  const client = new WebClient(context.app)
  const token = await client.token()
  const other = new WebClient(context.app)
  const foreign = await other.token()
  const attempts: Array<[string, Record<string, string>, Record<string, string>]> = [
    ['no token', { phone: phoneA }, {}],
    ['an empty token', { phone: phoneA, _csrf: '' }, {}],
    ['a wrong token, cross-site', { phone: phoneA, _csrf: spoiled(token) }, { 'sec-fetch-site': 'cross-site' }],
    ["another visitor's token, from a foreign Origin", { phone: phoneA, _csrf: foreign }, { 'sec-fetch-site': '', origin: 'https://evil.example' }],
    ['Sec-Fetch-Site: cross-site', { phone: phoneA, _csrf: token }, { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { phone: phoneA, _csrf: token }, { 'sec-fetch-site': 'same-site' }],
    ['a foreign Origin', { phone: phoneA, _csrf: token }, { 'sec-fetch-site': '', origin: 'https://evil.example' }],
    ['Origin: null', { phone: phoneA, _csrf: token }, { 'sec-fetch-site': '', origin: 'null' }]
  ]
  for (const [what, form, headers] of attempts) {
    const cleaned = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== ''))
    const res = await context.app.inject({
      method: 'POST',
      url: '/login',
      payload: new URLSearchParams(form).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: client.cookieHeader(), ...(headers['sec-fetch-site'] === '' ? {} : { 'sec-fetch-site': 'same-origin' }), ...cleaned }
    })
    t.equal(res.statusCode, 403, what)
    t.match(res.body, '<h1>Request refused</h1>', `${what}: the 403 page`)
  }
  // A same-site post whose token does not match (a stale form, another tab signed in or out):
  // nothing is done, and the person goes back to the form with a message, not to a dead end.
  for (const [what, stale] of [['a wrong token', spoiled(token)], ["another visitor's token", foreign]] as const) {
    const res = await client.post('/login', { phone: phoneA, _csrf: stale })
    t.equal(res.statusCode, 303, what)
    t.equal(res.headers.location, '/login', `${what}: back to the form`)
    t.match((await client.get('/login')).body, 'That page was out of date, so nothing was done.', `${what}: with a message`)
  }
  t.equal(context.sms.messages.length, 0, 'no refused post sent a code')
  const sameOrigin = await client.post('/login', { phone: phoneA, _csrf: token }, { origin: 'http://localhost:80' })
  t.equal(sameOrigin.statusCode, 303, 'the same origin with the right token passes')
  for (const url of ['/login/code', '/login/resend', '/profile/invite', '/profile/sessions/sign-out-others', '/logout']) {
    t.equal((await client.post(url, {})).statusCode, 403, `${url} needs a token`)
  }
})

t.test('cookie: HttpOnly, SameSite=Lax; over HTTPS behind TRUST_PROXY also Secure and __Host-', async t => {
  const plain = await buildTestApp(t)
  const http = await plain.app.inject({ url: '/login', headers: { 'x-forwarded-proto': 'https' } })
  const httpCookie = String(http.headers['set-cookie'])
  t.match(httpCookie, /^phonepass=[^;]+; Max-Age=2592000; Path=\/; HttpOnly; SameSite=Lax$/, 'no Secure over plain HTTP; the proxy header is not trusted')

  const proxied = await buildTestApp(t, { TRUST_PROXY: 'true' })
  const client = new WebClient(proxied.app, { 'x-forwarded-proto': 'https', host: 'phonepass.example' })
  const https = await client.get('/login')
  const httpsCookie = String(https.headers['set-cookie'])
  t.match(httpsCookie, /^__Host-phonepass=[^;]+; Max-Age=2592000; Path=\/; HttpOnly; Secure; SameSite=Lax$/)
  t.notMatch(httpsCookie, /Domain=/i)
  t.notOk(client.cookies.has('phonepass'), 'no plain cookie over HTTPS')
  const signedIn = await client.signIn(proxied, phoneA)
  t.equal(signedIn.headers.location, '/profile')
  const setCookies = [signedIn.headers['set-cookie'] ?? []].flat()
  t.ok(setCookies.some(cookie => /^__Host-phonepass=.*; Secure; SameSite=Lax$/.test(cookie)), 'the session cookie')
  t.ok(setCookies.some(cookie => /^__Host-phonepass_device=.*; HttpOnly; Secure; SameSite=Lax$/.test(cookie)), 'the device cookie')
  t.equal((await client.get('/profile')).statusCode, 200, 'the __Host- cookie carries the sign-in')
  const language = await client.get('/language/ru?next=/profile')
  t.match(String(language.headers['set-cookie']), /^phonepass_lang=ru; Max-Age=31536000; Path=\/; HttpOnly; Secure; SameSite=Lax$/)
})

t.test('sign-in issues a new cookie: what was held before signs no one in', async t => {
  const context = await buildTestApp(t)
  const client = new WebClient(context.app)
  await client.submit('/login', '/login', { phone: phoneA })
  const before = client.cookieHeader()
  const oldToken = await client.token('/login/code')
  await client.post('/login/code', { _csrf: oldToken, auth_code: context.sms.lastCode(phoneA) })
  t.not(client.cookieHeader(), before, 'a different cookie after sign-in')
  t.equal((await client.get('/profile')).statusCode, 200)
  const planted = await context.app.inject({ url: '/profile', headers: { cookie: before } })
  t.equal(planted.statusCode, 303, 'the cookie from before sign-in is not signed in')
  const stale = await client.post('/logout', { _csrf: oldToken })
  t.equal(stale.headers.location, '/profile', 'the CSRF token from before sign-in is dead: back to the page')
  t.equal((await client.get('/profile')).statusCode, 200, 'and it signed no one out')
})

t.test('signed in, the sign-in pages lead to the profile; a sign-in over a session ends the old one', async t => {
  const context = await buildTestApp(t)
  const client = new WebClient(context.app)
  await client.signIn(context, phoneA)
  for (const [url, location] of [
    ['/login', '/profile'],
    ['/login/code', '/profile'],
    ['/login?next=%2Fprofile%3Ftab%3Dsessions', '/profile?tab=sessions'],
    ['/login?next=%2F%2Fevil.com', '/profile'],
    ['/login?next=%2Flogin', '/profile'],
    ['/login?next=%2Flogin%2Fcode', '/profile']
  ] as const) {
    const res = await client.get(url)
    t.equal(res.statusCode, 303, url)
    t.equal(res.headers.location, location, `${url} → ${location}`)
  }
  const live = () => context.app.db.selectFrom('sessions').select('id').where('revoked_at', 'is', null).execute()
  const [first] = await live()

  // A sign-in posted from a signed-in browser (a sign-in form from before, a hand-made post).
  context.clock.advance(61_000)
  const token = await client.token('/profile')
  t.equal((await client.post('/login', { _csrf: token, phone: phoneB })).headers.location, '/login/code')
  const signedIn = await client.post('/login/code', { _csrf: token, auth_code: context.sms.lastCode(phoneB) })
  t.equal(signedIn.headers.location, '/profile')
  const now = await live()
  t.equal(now.length, 1, 'one live session: the new one')
  t.not(now[0]?.id, first?.id, 'the old session was ended on the server')
  const profile = (await client.get('/profile')).body
  t.match(profile, '<dd>+7 912 345 67 80</dd>')
  t.notMatch(profile, 'action="/profile/sessions/sign-out-others"', 'no second row in the session list')
})

t.test('logout ends the session on the server: a captured cookie replayed goes to /login', async t => {
  const context = await buildTestApp(t)
  const client = new WebClient(context.app)
  await client.signIn(context, phoneA)
  const captured = client.cookieHeader()
  t.equal((await context.app.inject({ url: '/profile', headers: { cookie: captured } })).statusCode, 200)
  t.equal((await client.submit('/profile', '/logout')).headers.location, '/login')
  const replay = await context.app.inject({ url: '/profile', headers: { cookie: captured } })
  t.equal(replay.statusCode, 303)
  t.equal(replay.headers.location, '/login?next=%2Fprofile')
  const row = await context.app.db.selectFrom('sessions').select('revoked_at').executeTakeFirstOrThrow()
  t.not(row.revoked_at, null, 'the sessions row is revoked')
})

t.test('"sign out everywhere else" ends the other sessions and keeps this one', async t => {
  const context = await buildTestApp(t)
  const here = new WebClient(context.app)
  const there = new WebClient(context.app, { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1' })
  await here.signIn(context, phoneA)
  context.clock.advance(61_000)
  await there.signIn(context, phoneA)
  const thereCookie = there.cookieHeader()
  const listed = (await here.get('/profile')).body
  t.match(listed, 'Safari · iPhone')
  t.match(listed, '<strong class="tag">this browser</strong>')
  const out = await here.submit('/profile', '/profile/sessions/sign-out-others')
  t.equal(out.statusCode, 303)
  t.equal(out.headers.location, '/profile')
  const page = await here.get('/profile')
  t.equal(page.statusCode, 200)
  t.match(page.body, 'Signed out of other sessions: 1.')
  const replay = await context.app.inject({ url: '/profile', headers: { cookie: thereCookie } })
  t.equal(replay.statusCode, 303)
  t.equal(replay.headers.location, '/login?next=%2Fprofile')
})

t.test('after sign-in, next leads only to a local path', async t => {
  // Eight sign-ins of one phone from one address within the hour: those budgets are raised here.
  const context = await buildTestApp(t, { LIMIT_CODES_PER_IP_HOUR: '100', LIMIT_CODES_PER_PHONE_HOUR: '100', LIMIT_CODES_PER_PHONE_DAY: '100' })
  const attempts = ['//evil.com', '/\\evil.com', 'https://evil.com', '/\t/evil.com', 'javascript:alert(1)', 'http:/evil.com', '/%5Cevil.com']
  let second = 0
  for (const next of attempts) {
    const client = new WebClient(context.app)
    context.clock.advance(61_000 + second++)
    const signedIn = await client.signIn(context, phoneA, next)
    t.equal(signedIn.statusCode, 303)
    const location = String(signedIn.headers.location)
    t.ok(location === '/profile' || (location.startsWith('/') && !location.startsWith('//') && !location.includes('\\')), `${JSON.stringify(next)} → ${location}`)
    t.not(new URL(location, 'http://localhost').host, 'evil.com', `${JSON.stringify(next)} stays here`)
  }
  const anonymous = new WebClient(context.app)
  const sent = await anonymous.get('/profile?tab=sessions')
  t.equal(sent.headers.location, '/login?next=%2Fprofile%3Ftab%3Dsessions')
  t.match((await anonymous.get(String(sent.headers.location))).body, 'name="next" value="/profile?tab=sessions"')
  context.clock.advance(61_000)
  t.equal((await anonymous.signIn(context, phoneA, '/profile?tab=sessions')).headers.location, '/profile?tab=sessions', 'a local path is kept')
  t.equal((await anonymous.get('/language/ru?next=//evil.com')).headers.location, '/')
  t.equal((await anonymous.get('/language/ru?next=https://evil.com')).headers.location, '/')
  t.equal((await anonymous.get('/language/ru?next=/login')).headers.location, '/login')
  // Dot segments that resolve to "//evil.com": another site, not a path here.
  const signedIn = new WebClient(context.app)
  context.clock.advance(61_000)
  t.equal((await signedIn.signIn(context, phoneA)).statusCode, 303)
  for (const next of ['/.//evil.com', '/..//evil.com', '/%2e//evil.com']) {
    t.equal((await anonymous.get(`/language/ru?next=${encodeURIComponent(next)}`)).headers.location, '/', `language ${next}`)
    t.equal((await signedIn.get(`/login?next=${encodeURIComponent(next)}`)).headers.location, '/profile', `signed in, /login?next=${next}`)
  }
})

t.test('the phones filter escapes the text and keeps each phone number on one line', async t => {
  t.equal(String(keepPhonesWhole('e.g. +44 7400 123456.')), 'e.g. <span class="phone-number">+44 7400 123456</span>.')
  t.equal(String(keepPhonesWhole('например +7 912 345-67-89.')), 'например <span class="phone-number">+7 912 345-67-89</span>.')
  t.equal(String(keepPhonesWhole('<b>"+1 555"</b> & +2')), '&lt;b&gt;&quot;<span class="phone-number">+1 555</span>&quot;&lt;/b&gt; &amp; +2')
  t.equal(String(keepPhonesWhole('4 digits. Tries left: 2.')), '4 digits. Tries left: 2.', 'no number, no span')
  const context = await buildTestApp(t)
  const login = (await context.app.inject({ url: '/login' })).body
  t.match(login, 'id="phone-hint">In international format, e.g. <span class="phone-number">+44 7400 123456</span>.</p>')
})

t.test('localPathOr keeps local paths and refuses everything else', async t => {
  t.equal(localPathOr('/profile', '/'), '/profile')
  t.equal(localPathOr('/profile?x=1', '/'), '/profile?x=1')
  for (const bad of ['//evil.com', '/\\evil.com', '\\\\evil.com', 'https://evil.com', 'evil.com', '/\nevil', '', undefined, 42, '/' + 'a'.repeat(600), '/.//evil.com', '/..//evil.com', '/%2e//evil.com', '/a/..//evil.com']) {
    t.equal(localPathOr(bad, '/fallback'), '/fallback', JSON.stringify(bad))
  }
})

t.test('language by Accept-Language, switched by a link on every page and remembered', async t => {
  const context = await buildTestApp(t)
  const client = new WebClient(context.app, { 'accept-language': 'ru-RU,ru;q=0.9' })
  const ru = await client.get('/login')
  t.match(ru.body, '<html lang="ru">')
  t.match(ru.body, '<h1>Вход</h1>')
  t.match(ru.body, 'href="/language/en?next=%2Flogin"')
  const switched = await client.get('/language/en?next=%2Flogin')
  t.equal(switched.statusCode, 303)
  t.equal(switched.headers.location, '/login')
  const en = await client.get('/login')
  t.match(en.body, '<html lang="en">')
  t.match(en.body, '<h1>Sign in</h1>')
  t.match(en.body, 'href="/language/ru?next=%2Flogin"')
  t.match((await client.get('/nowhere')).body, '<h1>Page not found</h1>', 'remembered on the next page too')
  t.equal((await client.get('/language/de')).statusCode, 400)
})

t.test('404 and 500 pages are in the layout; a 500 shows the request id and no stack', async t => {
  const context = await buildTestApp(t)
  const client = new WebClient(context.app)
  const missing = await client.get('/no/such/page')
  t.equal(missing.statusCode, 404)
  t.match(missing.body, '<h1>Page not found</h1>')
  t.match(missing.body, 'href="/assets/site.css"')
  t.equal((await context.app.inject({ url: '/api/nothing' })).json().code, 'not_found', 'the API keeps its JSON 404')

  await client.signIn(context, phoneA)
  context.app.services.profile.getProfile = async () => { throw new Error('database exploded at /secret/path.ts:12') }
  const failed = await client.get('/profile', { 'x-request-id': 'req-test-500' })
  t.equal(failed.statusCode, 500)
  t.match(failed.body, '<h1>Something went wrong</h1>')
  t.match(failed.body, 'Request id: req-test-500')
  t.notMatch(failed.body, 'exploded')
  t.notMatch(failed.body, /\bat \S+:\d+/)
})

t.test('headers: strict CSP on pages, a relaxed one only on /redoc/, cached stylesheet', async t => {
  const context = await buildTestApp(t)
  const page = await context.app.inject({ url: '/login' })
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, "script-src 'self';")
  t.match(csp, "style-src 'self';")
  t.notMatch(csp, 'unsafe-inline')
  t.equal(page.headers['x-frame-options'], 'SAMEORIGIN')
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  const redoc = await context.app.inject({ url: '/redoc/' })
  t.equal(redoc.statusCode, 200)
  t.match(String(redoc.headers['content-security-policy']), "worker-src 'self' blob:")
  const css = await context.app.inject({ url: '/assets/site.css' })
  t.equal(css.statusCode, 200)
  t.match(css.headers['content-type'], /^text\/css/)
  t.equal(css.headers['cache-control'], 'public, max-age=86400')
  t.ok(css.headers.etag)
  const cached = await context.app.inject({ url: '/assets/site.css', headers: { 'if-none-match': String(css.headers.etag) } })
  t.equal(cached.statusCode, 304)
})
