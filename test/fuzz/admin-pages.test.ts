import t from 'tap'
import fc from 'fast-check'
import { buildTestApp, signIn } from '../helpers/app.js'
import { checkInvariants } from '../helpers/invariants.js'
import { WebClient } from '../web/web-client.js'
import { contentType, encodeBody, fuzzParameters, oddBody, oddString, pageProblem, prototypeSnapshot, queryString, replaceReal } from './arbitraries.js'

// The support pages (/admin) under generated posts and addresses. As an admin: a page never
// answers 5xx, every refusal is a message a person can read, no markup comes back unescaped,
// redirects stay on the site. As anyone else: the same status as the same request to a path
// that does not exist.

const adminPhone = '+15550100001'
const victims = ['+79123459001', '+79123459002', '+79123459003', '+79123459004']
const actions = ['end-sessions', 'block', 'unblock', 'delete', 'clear-limits']

// Stand-ins replaced at run time: a victim's id, phone, invite code and session id.
const realId = '«id»'
const realPhone = '«phone»'
const realCode = '«code»'
const realSession = '«session»'
const realValues = fc.constantFrom(realPhone, realCode, realSession, 'spam', ' ', '')

const ids = fc.oneof({ weight: 4, arbitrary: fc.constant(realId) }, fc.constantFrom('0', '-1', 'abc', '1.5', '99999999999999999999', '9007199254740993', '%00', '%ED%A0%80', '2%2F..'))

const forms = fc.oneof(
  fc.constant({ url: '/admin/search', fields: ['phone', 'invite_code'] }),
  fc.constant({ url: '/admin/limits/confirm', fields: ['phone'] }),
  fc.constant({ url: '/admin/limits/clear', fields: ['phone', 'reason'] }),
  fc.constant({ url: '/admin/fraud/rules', fields: ['destination', 'action', 'reason'] }),
  fc.tuple(ids, fc.constantFrom(...actions, 'nope')).map(([id, action]) => ({ url: `/admin/users/${id}/${action}`, fields: ['reason'] })),
  fc.tuple(ids, fc.constantFrom('confirm', 'end')).map(([id, step]) => ({ url: `/admin/users/${id}/sessions/${step}`, fields: ['session_id', 'reason'] }))
)

const pages = fc.oneof(
  fc.constantFrom('/admin', '/admin/audit', '/admin/', '/admin/users', '/admin/nope', '/admin/fraud', '/admin/fraud/confirm', '/admin/fraud/confirm?action=block&destination=%2B44791112'),
  ids.map(id => `/admin/users/${id}`),
  fc.tuple(ids, fc.constantFrom(...actions, 'sessions')).map(([id, action]) => `/admin/users/${id}/${action}`)
)

const post = fc.record({
  who: fc.oneof({ weight: 4, arbitrary: fc.constant('admin' as const) }, fc.constantFrom('user' as const, 'stranger' as const)),
  victim: fc.nat(victims.length - 1),
  form: forms,
  csrf: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('body', 'header') }, fc.constantFrom('none', 'junk')),
  junkToken: oddString,
  contentType: fc.oneof({ weight: 3, arbitrary: fc.constant('application/x-www-form-urlencoded') }, contentType)
}).chain(base => fc.record({
  base: fc.constant(base),
  body: fc.oneof(
    oddBody(base.form.fields),
    fc.dictionary(fc.constantFrom(...base.form.fields), fc.oneof(oddString, { weight: 2, arbitrary: realValues }), { maxKeys: 3 }).map(json => ({ json }))
  )
}))

const get = fc.record({
  who: fc.oneof({ weight: 4, arbitrary: fc.constant('admin' as const) }, fc.constantFrom('user' as const, 'stranger' as const)),
  victim: fc.nat(victims.length - 1),
  page: pages,
  query: fc.option(fc.oneof(queryString, fc.constantFrom('cursor=1', 'cursor=0', 'cursor=-1', 'cursor=abc', 'cursor=1e3', 'cursor=99999999999999999999', 'cursor[]=1', 'action=allow&destination=GB', 'action=block&destination=%3Cb%3E', 'action=nope&destination=GB', 'action=clear&destination=%2B1')), { nil: undefined })
})

t.test('the support pages under odd posts and addresses: readable answers for an admin, an unknown path\'s for anyone else', async t => {
  const before = prototypeSnapshot()
  const context = await buildTestApp(t, { ADMIN_PHONES: adminPhone, TEST_PHONE_NUMBERS: `${adminPhone}=1234`, LIMIT_CODES_PER_IP_HOUR: '100000', LIMIT_WRONG_CODES_PER_IP_HOUR: '100000' })
  // The admin's number is a test number: a fixed code, no SMS.
  const admin = new WebClient(context.app)
  await admin.submit('/login', '/login', { phone: adminPhone })
  await admin.submit('/login/code', '/login/code', { auth_code: '1234' })
  const user = new WebClient(context.app)
  await user.signIn(context, victims[0] ?? '')
  const stranger = new WebClient(context.app)
  const clients = { admin, user, stranger }
  const tokens = { admin: await admin.token('/admin'), user: await user.token('/profile'), stranger: await stranger.token('/login') }
  const people: Array<Record<string, string>> = await Promise.all(victims.map(async phone => {
    context.clock.advance(61_000)
    const signedIn = await signIn(context, phone)
    const session = await context.app.db.selectFrom('sessions').select('id').where('user_id', '=', signedIn.user.id).executeTakeFirstOrThrow()
    return { [realId]: String(signedIn.user.id), [realPhone]: phone, [realCode]: signedIn.user.invite_code, [realSession]: session.id }
  }))
  const statuses = new Map<string, number>()
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1)

  await fc.assert(fc.asyncProperty(post, async ({ base, body }) => {
    const real = people[base.victim] ?? {}
    const url = base.form.url.replace(realId, real[realId] ?? '')
    const token = base.csrf === 'junk' ? base.junkToken : tokens[base.who]
    let json = replaceReal(body.json, real)
    if (base.csrf === 'body' && json !== null && typeof json === 'object' && !Array.isArray(json)) json = { ...json, _csrf: token }
    const headers: Record<string, string> = { 'content-type': base.contentType, 'sec-fetch-site': 'same-origin', cookie: clients[base.who].cookieHeader() }
    if (base.csrf === 'header') headers['x-csrf-token'] = token
    const payload = encodeBody({ ...body, json }, base.contentType)
    const res = await context.app.inject({ method: 'POST', url, headers, payload })
    count(`${base.who} ${res.statusCode}`)
    if (base.who === 'admin') {
      const problem = pageProblem(res)
      if (problem !== undefined) throw new Error(`${problem}: POST ${url} → ${res.statusCode} ${res.body.slice(0, 2000)}`)
      return
    }
    const control = await context.app.inject({ method: 'POST', url: url.replace('/admin', '/nothing-here'), headers, payload })
    if (res.statusCode !== control.statusCode) throw new Error(`${base.who}: POST ${url} → ${res.statusCode}, an unknown path ${control.statusCode}`)
  }), fuzzParameters({ sqlite: 300, postgres: 80 }))

  await fc.assert(fc.asyncProperty(get, async request => {
    const real = people[request.victim] ?? {}
    const page = request.page.replace(realId, real[realId] ?? '')
    const url = request.query === undefined ? page : `${page}?${request.query}`
    const headers = { cookie: clients[request.who].cookieHeader() }
    const res = await context.app.inject({ method: 'GET', url, headers })
    count(`${request.who} GET ${res.statusCode}`)
    if (request.who === 'admin') {
      const problem = pageProblem(res)
      if (problem !== undefined) throw new Error(`${problem}: GET ${url} → ${res.statusCode} ${res.body.slice(0, 2000)}`)
      return
    }
    const control = await context.app.inject({ method: 'GET', url: url.replace('/admin', '/nothing-here'), headers })
    if (res.statusCode !== control.statusCode) throw new Error(`${request.who}: GET ${url} → ${res.statusCode}, an unknown path ${control.statusCode}`)
  }), fuzzParameters({ sqlite: 200, postgres: 50 }))

  t.comment(JSON.stringify([...statuses].sort()))
  t.ok(statuses.has('admin 303'), 'some actions went through')
  t.ok(statuses.has('admin 400'), 'some were refused beside a field')
  t.ok(statuses.has('admin GET 200'), 'pages were shown')
  t.ok(statuses.has('user 404') && statuses.has('stranger 404'), 'others met the unknown path')
  t.same(prototypeSnapshot(), before, 'no prototype gained or lost a property')
  t.equal((await admin.get('/admin')).statusCode, 200, 'the admin is still signed in')
  await checkInvariants(t, context.app.db, context.config, {}, context.clock.now())
})
