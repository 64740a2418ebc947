import t from 'tap'
import { bearer, buildRecordingApp, buildTestApp, post, signIn } from '../helpers/app.js'
import { WebClient } from '../web/web-client.js'

// GET /api/users/me/export/ and the pages' "Download my data": everything stored about me.

t.test('the export holds the profile, both sides of the invites, sessions with times, addresses and user agents, and the events', async t => {
  const context = await buildRecordingApp(t)
  const inviter = await signIn(context, '+79123477001')
  const me = await signIn(context, '+79123477002')
  const invitee = await signIn(context, '+79123477003')
  await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(me.access), payload: { invite_code: inviter.user.invite_code } })
  await context.app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(invitee.access), payload: { invite_code: me.user.invite_code } })
  context.clock.advance(61_000)
  await context.app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123477002' }, headers: { 'user-agent': 'TestApp/2.0' } })
  const second = await context.app.inject({
    method: 'POST', url: '/api/users/verify_code/', headers: { 'user-agent': 'TestApp/2.0' },
    payload: { phone: '+79123477002', auth_code: context.sms.lastCode('+79123477002') }
  })
  await post(context.app, '/api/users/logout/', { refresh: second.json().refresh })

  const answer = await context.app.inject({ method: 'GET', url: '/api/users/me/export/', headers: bearer(me.access) })
  t.equal(answer.statusCode, 200)
  const data = answer.json()
  const start = new Date(Date.UTC(2026, 0, 1)).toISOString()
  t.same(data.profile, { id: me.user.id, phone: '+79123477002', invite_code: me.user.invite_code, created_at: start })
  t.same(data.invited_by, { phone: '+79123477001', invite_code: inviter.user.invite_code, activated_at: start })
  t.same(data.users_invited, [{ phone: '+79123477003', invited_at: start }])
  t.equal(data.sessions.length, 2)
  t.match(data.sessions[0], { kind: 'api', created_at: start, revoked_at: null, ip: '127.0.0.1', user_agent: 'lightMyRequest' })
  t.match(data.sessions[1], { kind: 'api', revoked_at: new Date(context.clock.now()).toISOString(), ip: '127.0.0.1', user_agent: 'TestApp/2.0' })
  t.notOk(JSON.stringify(data.sessions).includes('"id"'), 'session ids are credentials: not exported')
  t.match(data.login_code, { tries: 1, ip: '127.0.0.1', used_at: new Date(context.clock.now()).toISOString() })
  t.same(data.events.map((e: { type: string }) => e.type), ['user.created', 'invite.activated'])
  t.same(data.events[1].data, { id: me.user.id, phone: '+79123477002', activated_invite_code: inviter.user.invite_code, inviter_id: inviter.user.id })
  t.equal((await context.app.inject({ method: 'GET', url: '/api/users/me/export/' })).statusCode, 401)

  // A deleted inviter's phone is gone from it; the code stays.
  context.clock.advance(61_000)
  await post(context.app, '/api/users/register/', { phone: '+79123477001' })
  const gone = await context.app.inject({ method: 'DELETE', url: '/api/users/me/', headers: bearer(inviter.access), payload: { auth_code: context.sms.lastCode('+79123477001') } })
  t.equal(gone.statusCode, 204)
  const after = (await context.app.inject({ method: 'GET', url: '/api/users/me/export/', headers: bearer(me.access) })).json()
  t.same(after.invited_by, { phone: null, invite_code: inviter.user.invite_code, activated_at: start })
})

t.test('the pages: "Download my data" on the profile gives the same JSON as a file', async t => {
  const context = await buildTestApp(t)
  const browser = new WebClient(context.app, { 'accept-language': 'ru' })
  await browser.signIn(context, '+79123477011')
  t.match((await browser.get('/profile')).body, '<a href="/profile/export" download>Скачать мои данные</a>')
  const file = await browser.get('/profile/export')
  t.equal(file.statusCode, 200)
  t.equal(file.headers['content-disposition'], 'attachment; filename="phonepass-my-data.json"')
  t.match(file.headers['content-type'], /^application\/json/)
  t.equal(file.headers['cache-control'], 'no-store')
  const data = file.json()
  t.equal(data.profile.phone, '+79123477011')
  t.match(data.sessions, [{ kind: 'web', revoked_at: null }])
  const stranger = new WebClient(context.app)
  t.equal((await stranger.get('/profile/export')).statusCode, 303, 'signed out: to sign in')
})
