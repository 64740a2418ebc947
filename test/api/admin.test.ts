import { Writable } from 'node:stream'
import t from 'tap'
import { sql } from 'kysely'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createLogger } from '../../src/logger.js'
import { bearer, buildRecordingApp, buildTestApp, post, signIn, type TestContext } from '../helpers/app.js'

// The admin API (/api/admin/), on both databases: who may use it (and what everyone else is
// told: nothing more than an unknown path), each action through it and its audit entry, many
// admins at once, and the key kept out of every log line.

const supportKey = 'support-' + 'k'.repeat(40)
const crmKey = 'crm-' + 'c'.repeat(40)
const adminKeys = `support:${supportKey},crm:${crmKey}`
const adminHeaders = (key = supportKey): Record<string, string> => ({ authorization: `Bearer ${key}` })

interface Tap {
  teardown: (fn: () => unknown) => void
}

async function setup (t: Tap, env: Record<string, string> = {}, logger?: ReturnType<typeof createLogger>): Promise<TestContext> {
  if (logger === undefined) return await buildRecordingApp(t, { PHONEPASS_ADMIN_KEYS: adminKeys, ...env })
  return await buildTestApp(t, {
    PHONEPASS_ADMIN_KEYS: adminKeys, LIMIT_CODES_PER_IP_HOUR: '10000', LIMIT_WRONG_CODES_PER_IP_HOUR: '10000', LOG_LEVEL: 'trace', ...env
  }, { logger })
}

async function call (app: FastifyInstance, method: InjectOptions['method'], url: string, payload?: unknown, headers: Record<string, string> = adminHeaders()): Promise<LightMyRequestResponse> {
  return await app.inject({ method, url, headers: { 'x-forwarded-for': '203.0.113.50', ...headers }, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) })
}

/** What a caller can compare between two answers: status, body, and every header but the per-request ones. */
function visible (res: LightMyRequestResponse) {
  const { date: _date, 'x-request-id': _id, ...headers } = res.headers
  return { status: res.statusCode, body: res.body, headers }
}

// Every admin route, with a body it would take.
const routes: Array<[InjectOptions['method'], string, unknown]> = [
  ['GET', '/api/admin/users/?phone=%2B79123490001', undefined],
  ['GET', '/api/admin/users/1/', undefined],
  ['POST', '/api/admin/users/1/sessions/revoke/', {}],
  ['POST', '/api/admin/users/1/block/', { reason: 'spam' }],
  ['POST', '/api/admin/users/1/unblock/', {}],
  ['DELETE', '/api/admin/users/1/', undefined],
  ['POST', '/api/admin/users/1/limits/clear/', {}],
  ['DELETE', '/api/admin/users/1/passkeys/bm90LWEtcGFzc2tleQ/', undefined],
  ['GET', '/api/admin/limits/?phone=%2B79123490001', undefined],
  ['POST', '/api/admin/limits/clear/', { phone: '+79123490001' }],
  ['GET', '/api/admin/sms-spend/', undefined],
  ['GET', '/api/admin/audit/', undefined],
  ['GET', '/api/admin/fraud/', undefined],
  ['POST', '/api/admin/fraud/rules/', { destination: '+44791112', verdict: 'block', reason: 'pumping' }],
  ['DELETE', '/api/admin/fraud/rules/%2B44791112/', undefined]
]

t.test('without a valid key every admin path answers exactly as an unknown path does', async t => {
  const context = await setup(t)
  const { app } = context
  const person = await signIn(context, '+79123490001')
  const unknown = visible(await call(app, 'GET', '/api/nope/', undefined, {}))
  t.equal(unknown.status, 404)
  t.same(JSON.parse(unknown.body), { detail: 'Not found.', code: 'not_found' })

  const credentials: Array<[string, Record<string, string>]> = [
    ['no Authorization', {}],
    ['a wrong key', adminHeaders('support-' + 'x'.repeat(40))],
    ['a key one character short', adminHeaders(supportKey.slice(0, -1))],
    ['a key with a character more', adminHeaders(supportKey + 'k')],
    ['name:secret instead of the secret', adminHeaders(`support:${supportKey}`)],
    ['the key in another scheme', { authorization: `Basic ${supportKey}` }],
    ['the key with no scheme', { authorization: supportKey }],
    ['two tokens', { authorization: `Bearer ${supportKey} ${supportKey}` }],
    ['a user\'s access token', bearer(person.access)],
    ['the user\'s refresh token', bearer(person.refresh)]
  ]
  for (const [what, headers] of credentials) {
    for (const [method, url, payload] of routes) {
      t.same(visible(await call(app, method, url, payload, headers)), unknown, `${what}: ${method} ${url}`)
    }
  }
  // Bodies are not read before the key is checked: a bad body tells nothing either.
  t.same(visible(await call(app, 'POST', '/api/admin/users/1/block/', { reason: '' }, {})), unknown, 'an invalid body without a key')
  t.same(visible(await call(app, 'POST', '/api/admin/users/abc/block/', undefined, {})), unknown, 'an invalid id without a key')
  t.same(visible(await call(app, 'GET', '/api/admin/users/?phone=nonsense', undefined, {})), unknown, 'an invalid query without a key')
  // Other methods and OPTIONS: no Allow header names what the path takes, key or not.
  for (const headers of [{}, adminHeaders()]) {
    t.same(visible(await call(app, 'PUT', '/api/admin/users/', {}, headers)), unknown, 'another method')
    t.same(visible(await call(app, 'OPTIONS', '/api/admin/sms-spend/', undefined, headers)), unknown, 'OPTIONS')
    t.same(visible(await call(app, 'GET', '/api/admin/nope/', undefined, headers)), unknown, 'an unknown admin path')
  }
  // A browser's form post from another site: refused before any key is looked at, as on any API path.
  const crossSite = { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }
  const refusedElsewhere = visible(await app.inject({ method: 'POST', url: '/api/nope/', payload: 'reason=x', headers: crossSite }))
  t.equal(refusedElsewhere.status, 403)
  for (const headers of [crossSite, { ...crossSite, ...adminHeaders() }]) {
    t.same(visible(await app.inject({ method: 'POST', url: '/api/admin/users/1/block/', payload: 'reason=x', headers })), refusedElsewhere, 'a cross-site form post')
  }
  const head = await call(app, 'HEAD', '/api/admin/sms-spend/', undefined, {})
  const unknownHead = await call(app, 'HEAD', '/api/nope/', undefined, {})
  t.same(visible(head), visible(unknownHead), 'HEAD')
  // In Russian too: the same words as an unknown path's.
  t.same(visible(await call(app, 'GET', '/api/admin/audit/', undefined, { 'accept-language': 'ru' })), visible(await call(app, 'GET', '/api/nope/', undefined, { 'accept-language': 'ru' })))

  // The user's token still works where it belongs, and the admin's where it belongs.
  t.equal((await app.inject({ url: '/api/users/me/', headers: bearer(person.access) })).statusCode, 200)
  t.equal((await call(app, 'GET', '/api/admin/sms-spend/')).statusCode, 200)
  t.equal((await call(app, 'GET', '/api/admin/sms-spend/', undefined, adminHeaders(crmKey))).statusCode, 200, 'either key')
  t.equal((await app.db.selectFrom('admin_audit').select('id').execute()).length, 0, 'no refused request is an action')
})

t.test('no keys configured: the admin API is not there for anyone', async t => {
  const context = await setup(t, { PHONEPASS_ADMIN_KEYS: '' })
  const unknown = visible(await call(context.app, 'GET', '/api/nope/', undefined, {}))
  for (const [method, url, payload] of routes) {
    t.same(visible(await call(context.app, method, url, payload, adminHeaders())), unknown, `${method} ${url}`)
  }
})

t.test('a revoked key: an app started without it refuses it, on the same database, while the new key works', async t => {
  const context = await setup(t)
  const { app, clock } = context
  const person = await signIn(context, '+79123490011')
  // Rotation: the new instance lists only the crm key (the support key was taken out).
  const { adminKeys: remaining } = loadConfig({ DATABASE_URL: 'sqlite::memory:', PHONEPASS_ADMIN_KEYS: `crm:${crmKey}` })
  const rotated = await buildApp({ ...context.config, adminKeys: remaining }, { db: app.db, clock })
  t.teardown(async () => { await rotated.close() })
  const unknown = visible(await call(rotated, 'GET', '/api/nope/', undefined, {}))
  t.equal((await call(app, 'GET', `/api/admin/users/${person.user.id}/`)).statusCode, 200, 'the old instance still lists it')
  t.same(visible(await call(rotated, 'GET', `/api/admin/users/${person.user.id}/`)), unknown, 'the new one answers as an unknown path')
  t.same(visible(await call(rotated, 'POST', `/api/admin/users/${person.user.id}/block/`, { reason: 'x' })), unknown)
  const blocked = await call(rotated, 'POST', `/api/admin/users/${person.user.id}/block/`, { reason: 'fraud' }, adminHeaders(crmKey))
  t.equal(blocked.statusCode, 200, 'the key that stays works')
  const [entry] = (await call(rotated, 'GET', '/api/admin/audit/', undefined, adminHeaders(crmKey))).json<{ results: Array<{ actor: unknown }> }>().results
  t.same(entry?.actor, { kind: 'key', name: 'crm' })
})

t.test('each action through the API: done, answered, and one audit entry naming who, what, whom, when and from where', async t => {
  const context = await setup(t)
  const { app, clock } = context
  const inviter = await signIn(context, '+79123490021')
  const person = await signIn(context, '+79123490022')
  await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(person.access), payload: { invite_code: inviter.user.invite_code } })
  clock.advance(61_000)
  const second = await signIn(context, '+79123490022')
  const id = person.user.id
  const requestIds: string[] = []
  const act = async (method: InjectOptions['method'], url: string, payload?: unknown, key?: string) => {
    const res = await call(app, method, url, payload, adminHeaders(key))
    requestIds.push(String(res.headers['x-request-id']))
    return res
  }

  // Finding.
  const byPhone = await call(app, 'GET', '/api/admin/users/?phone=8%20912%20349-00-22')
  t.equal(byPhone.statusCode, 200)
  t.match(byPhone.json(), { results: [{ id, phone: '+79123490022', invite_code: person.user.invite_code, blocked_at: null, invited_by: inviter.user.id }], next_cursor: null })
  t.same((await call(app, 'GET', `/api/admin/users/?invite_code=${person.user.invite_code.toLowerCase()}`)).json().results.map((u: { id: number }) => u.id), [id])
  const firstPage = (await call(app, 'GET', '/api/admin/users/?limit=1')).json()
  t.same(firstPage.results.map((u: { id: number }) => u.id), [id])
  t.equal(firstPage.next_cursor, id)
  t.same((await call(app, 'GET', `/api/admin/users/?limit=1&cursor=${String(firstPage.next_cursor)}`)).json(), { results: [(await call(app, 'GET', '/api/admin/users/?phone=%2B79123490021')).json().results[0]], next_cursor: null })

  // One person.
  const shown = (await call(app, 'GET', `/api/admin/users/${id}/`)).json()
  t.match(shown, {
    id, phone: '+79123490022', blocked: null,
    inviter: { id: inviter.user.id, phone: '+79123490021', invite_code: inviter.user.invite_code },
    invitees: { count: 0, latest: [] },
    login_code: { state: 'spent' },
    events: [{ type: 'invite.activated', status: 'pending' }, { type: 'user.created' }],
    audit: []
  })
  t.equal(shown.sessions.length, 2)
  t.match(shown.sessions[0], { kind: 'api', ip: '127.0.0.1', created_at: /^2026-01-01T00:01:01/ })
  t.ok(shown.limits.length > 0)

  // Ending one session, then all.
  const one = shown.sessions.find((s: { created_at: string }) => s.created_at.startsWith('2026-01-01T00:00:00')).id as string
  t.same((await act('POST', `/api/admin/users/${id}/sessions/revoke/`, { session_id: one, reason: 'lost phone' })).json(), { phone: '+79123490022', revoked: 1 })
  t.equal((await app.inject({ url: '/api/users/me/', headers: bearer(person.access) })).statusCode, 401, 'that session\'s token is refused')
  t.equal((await app.inject({ url: '/api/users/me/', headers: bearer(second.access) })).statusCode, 200, 'the other lives')
  t.same((await act('POST', `/api/admin/users/${id}/sessions/revoke/`)).json(), { phone: '+79123490022', revoked: 1 }, 'no body: all of them')
  t.equal((await app.inject({ url: '/api/users/me/', headers: bearer(second.access) })).statusCode, 401)

  // Blocking: the person's next sign-in is refused.
  clock.advance(61_000)
  await post(app, '/api/users/register/', { phone: '+79123490022' })
  t.same((await act('POST', `/api/admin/users/${id}/block/`, { reason: 'chargebacks' })).json(), { phone: '+79123490022', changed: true, revoked: 0 })
  const refused = await post(app, '/api/users/verify_code/', { phone: '+79123490022', auth_code: context.sms.lastCode('+79123490022') })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'account_blocked')
  t.match((await call(app, 'GET', `/api/admin/users/${id}/`)).json(), { blocked: { reason: 'chargebacks' } })
  t.same((await act('POST', `/api/admin/users/${id}/unblock/`, undefined, crmKey)).json(), { phone: '+79123490022', changed: true, revoked: 0 }, 'unblock without a body')

  // Limits: of the account's phone, and of a phone without an account.
  t.match((await call(app, 'GET', '/api/admin/limits/?phone=%2B79123490022')).json(), { phone: '+79123490022', user_id: id })
  const cleared = (await act('POST', `/api/admin/users/${id}/limits/clear/`, { reason: 'locked out' })).json()
  t.ok(cleared.deleted > 0)
  t.same((await call(app, 'GET', '/api/admin/limits/?phone=%2B79123490022')).json().limits.filter((l: { key: string }) => l.key.startsWith('code:')), [], 'the send quotas go, the rest stays')
  await post(app, '/api/users/register/', { phone: '+79123490029' })
  t.same((await act('POST', '/api/admin/limits/clear/', { phone: '8 912 349-00-29' })).json(), { phone: '+79123490029', deleted: 4 })

  // Deleting: the person's own deletion's effects.
  const deleted = await act('DELETE', `/api/admin/users/${id}/`, { reason: 'asked in writing' })
  t.equal(deleted.statusCode, 204)
  t.equal(deleted.body, '')
  t.match((await call(app, 'GET', `/api/admin/users/${id}/`)).json(), { code: 'user_not_found' })
  t.same((await call(app, 'GET', '/api/admin/users/?phone=%2B79123490022')).json().results, [])
  t.match((await call(app, 'GET', `/api/admin/users/${inviter.user.id}/`)).json(), { invitees: { count: 0 } }, 'out of the inviter\'s list')
  const events = await app.db.selectFrom('webhook_events').select('type').where('user_id', '=', id).orderBy('id').execute()
  t.same(events.map(e => e.type), ['user.created', 'invite.activated', 'user.blocked', 'user.unblocked', 'user.deleted'])

  // The log: one entry per action, newest first, surviving the deletion (reads have entries of their own, tested below).
  const logged = (await call(app, 'GET', `/api/admin/audit/?user_id=${id}`)).json()
  const audit = { results: logged.results.filter((e: { action: string }) => !e.action.startsWith('read.')) }
  t.same(audit.results.map((e: { action: string }) => e.action), ['user.delete', 'limits.clear', 'user.unblock', 'user.block', 'sessions.revoke_all', 'session.revoke'])
  t.same(audit.results.map((e: { request_id: string }) => e.request_id), [requestIds[6], requestIds[4], requestIds[3], requestIds[2], requestIds[1], requestIds[0]], 'each names its request')
  for (const entry of audit.results) {
    t.match(entry, { target: { user_id: id, phone: '+79123490022' }, ip: '127.0.0.1', at: /^2026-01-01T00:0[12]:0[12]\.000Z$/ }, entry.action)
  }
  t.same(audit.results.map((e: { actor: { name: string } }) => e.actor.name), ['support', 'support', 'crm', 'support', 'support', 'support'])
  t.same(audit.results[0].details, { reason: 'asked in writing' })
  t.same(audit.results.at(-1).details, { reason: 'lost phone', session: one.slice(0, 8), revoked: 1 })
  t.same((await call(app, 'GET', '/api/admin/audit/?phone=%2B79123490029')).json().results.filter((e: { action: string }) => e.action === 'limits.clear').map((e: { target: unknown }) => e.target), [{ user_id: null, phone: '+79123490029' }])
  const all = (await call(app, 'GET', '/api/admin/audit/?limit=200')).json().results.map((e: { id: number }) => e.id)
  const paged = (await call(app, 'GET', '/api/admin/audit/?limit=4')).json()
  t.equal(paged.results.length, 4)
  const rest = (await call(app, 'GET', `/api/admin/audit/?limit=200&cursor=${String(paged.next_cursor)}`)).json()
  t.same([...paged.results, ...rest.results].map((e: { id: number }) => e.id).slice(1), all, 'pages by keyset (the first page\'s own read entry on top)')
  t.equal(rest.next_cursor, null)

  t.match((await call(app, 'GET', '/api/admin/sms-spend/')).json(), { hourly_cap: 1000, hour: { sent: 5, remaining: 995, refused: 0 }, day: { sent: 5 } })
})

t.test('the address in the log is the client\'s, behind TRUST_PROXY', async t => {
  const context = await setup(t, { TRUST_PROXY: '1' })
  const person = await signIn(context, '+79123490031')
  t.equal((await call(context.app, 'POST', `/api/admin/users/${person.user.id}/block/`, { reason: 'x' })).statusCode, 200)
  t.match((await call(context.app, 'GET', '/api/admin/audit/')).json().results, [{ ip: '203.0.113.50' }])
})

t.test('bad input: a 4xx that says what is wrong, once the key is valid', async t => {
  const context = await setup(t)
  const { app } = context
  const person = await signIn(context, '+79123490041')
  const cases: Array<[InjectOptions['method'], string, unknown, number, string, string?]> = [
    ['GET', '/api/admin/users/abc/', undefined, 400, 'validation_error', 'id'],
    ['GET', '/api/admin/users/0/', undefined, 400, 'validation_error', 'id'],
    ['GET', '/api/admin/users/99999999999999999999/', undefined, 400, 'validation_error', 'id'],
    ['GET', '/api/admin/users/?phone=nonsense', undefined, 400, 'phone_invalid', 'phone'],
    ['GET', '/api/admin/users/?invite_code=%21%21', undefined, 400, 'invite_code_invalid', 'invite_code'],
    ['GET', '/api/admin/users/?limit=1000', undefined, 400, 'validation_error', 'limit'],
    ['GET', '/api/admin/users/?cursor=-1', undefined, 400, 'validation_error', 'cursor'],
    ['GET', '/api/admin/audit/?user_id=x', undefined, 400, 'validation_error', 'user_id'],
    ['GET', '/api/admin/limits/', undefined, 400, 'validation_error', 'phone'],
    ['POST', `/api/admin/users/${person.user.id}/block/`, {}, 400, 'validation_error', 'reason'],
    ['POST', `/api/admin/users/${person.user.id}/block/`, { reason: '   ' }, 400, 'reason_invalid', 'reason'],
    ['POST', `/api/admin/users/${person.user.id}/block/`, { reason: 'x'.repeat(501) }, 400, 'validation_error', 'reason'],
    ['POST', `/api/admin/users/${person.user.id}/sessions/revoke/`, { session_id: 'abc' }, 400, 'validation_error', 'session_id'],
    ['POST', `/api/admin/users/${person.user.id}/sessions/revoke/`, { session_id: 'a'.repeat(32) }, 404, 'session_not_found', 'session_id'],
    ['POST', '/api/admin/users/424242/block/', { reason: 'x' }, 404, 'user_not_found', 'id'],
    ['DELETE', '/api/admin/users/424242/', undefined, 404, 'user_not_found', 'id'],
    ['POST', '/api/admin/users/424242/sessions/revoke/', undefined, 404, 'user_not_found', 'id'],
    ['GET', '/api/admin/users/424242/', undefined, 404, 'user_not_found', 'id'],
    ['POST', '/api/admin/limits/clear/', {}, 400, 'validation_error', 'phone']
  ]
  for (const [method, url, payload, status, code, field] of cases) {
    const res = await call(app, method, url, payload)
    t.equal(res.statusCode, status, `${method} ${url} ${JSON.stringify(payload)}`)
    t.equal(res.json().code, code)
    t.ok(res.json().detail.length > 10, res.json().detail)
    if (field !== undefined) t.ok(res.json().errors?.[field], `the message is about ${field}`)
  }
  t.match((await call(app, 'GET', '/api/admin/users/424242/')).json(), { detail: 'There is no account with this id or phone: it never existed or has been deleted.' })
  t.match((await call(app, 'GET', '/api/admin/users/424242/', undefined, { ...adminHeaders(), 'accept-language': 'ru' })).json(), { detail: /^Учётной записи/ })
  t.equal((await app.db.selectFrom('admin_audit').select('id').execute()).length, 0, 'a refused request writes no entry')
  // A form body (as the other API routes take).
  const form = await app.inject({ method: 'POST', url: `/api/admin/users/${person.user.id}/block/`, headers: { ...adminHeaders(), 'content-type': 'application/x-www-form-urlencoded' }, payload: 'reason=by+form' })
  t.equal(form.statusCode, 200)
})

t.test('many admins at once on one account, through the API: one block changes it, one deletion deletes it', async t => {
  const context = await setup(t)
  const { app } = context
  const person = await signIn(context, '+79123490051')
  const blocks = await Promise.all(Array.from({ length: 20 }, async (_, i) => await call(app, 'POST', `/api/admin/users/${person.user.id}/block/`, { reason: `report ${i}` }, adminHeaders(i % 2 === 0 ? supportKey : crmKey))))
  t.same(blocks.map(res => res.statusCode), Array(20).fill(200))
  t.equal(blocks.filter(res => res.json().changed === true).length, 1, 'one changed the account')
  const deletes = await Promise.all(Array.from({ length: 10 }, async () => await call(app, 'DELETE', `/api/admin/users/${person.user.id}/`)))
  t.same(deletes.map(res => res.statusCode).sort(), [204, ...Array(9).fill(404)])
  t.same(deletes.filter(res => res.statusCode === 404).map(res => res.json().code), Array(9).fill('user_not_found'))
  const audit = (await call(app, 'GET', `/api/admin/audit/?user_id=${person.user.id}&limit=200`)).json().results as Array<{ action: string, details: { changed?: boolean } }>
  t.equal(audit.length, 21, '20 blocks and one deletion')
  t.equal(audit.filter(e => e.action === 'user.block' && e.details.changed === true).length, 1)
  t.equal(audit[0]?.action, 'user.delete', 'the deletion is the last')
  const types = await app.db.selectFrom('webhook_events').select('type').where('user_id', '=', person.user.id).orderBy('id').execute()
  t.same(types.map(e => e.type), ['user.created', 'user.blocked', 'user.deleted'])
})

t.test('the key never reaches a log line; the key\'s name and the action do', async t => {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(line => line !== ''))
      done()
    }
  })
  const wrongKey = 'wrong-' + 'w'.repeat(40)
  const context = await setup(t, {}, createLogger({ logLevel: 'trace' }, stream))
  const { app } = context
  const person = await signIn(context, '+79123490061')
  for (const [method, url, payload] of routes) {
    await call(app, method, url.replace('/1/', `/${person.user.id}/`), payload)
    await call(app, method, url, payload, adminHeaders(wrongKey))
    await call(app, method, url, payload, { authorization: supportKey })
  }
  await call(app, 'POST', `/api/admin/users/${person.user.id}/block/`, { reason: 'x'.repeat(600) })
  await call(app, 'POST', '/api/admin/users/abc/block/', '{"broken json')
  // An error inside the service (the log table gone) is logged with its stack: still no key.
  const other = await signIn(context, '+79123490062')
  await sql`alter table admin_audit rename to admin_audit_away`.execute(app.db)
  t.equal((await call(app, 'POST', `/api/admin/users/${other.user.id}/unblock/`)).statusCode, 500)
  await sql`alter table admin_audit_away rename to admin_audit`.execute(app.db)

  t.ok(lines.length > 40, `the log was captured (${lines.length} lines)`)
  const all = lines.join('\n')
  for (const secret of [supportKey, crmKey, wrongKey, 'k'.repeat(40), 'w'.repeat(40)]) {
    t.notOk(all.includes(secret), 'no line holds a key or any long part of one')
  }
  t.ok(lines.some(line => line.includes('"msg":"request failed"')), 'the failure was logged')
  const actions = lines.map(line => JSON.parse(line) as { msg: string, actor?: string, action?: string }).filter(line => line.msg === 'admin action')
  t.ok(actions.length >= 5)
  t.ok(actions.every(line => line.actor === 'key:support'), 'the log names the key by its name')
  t.ok(lines.some(line => line.includes('"url":"/api/admin/users/:id/block/"')), 'the request line names the route, not the raw URL')
})

t.test('clearing a phone\'s limits gives no more guesses at a code than the person had (issue 22)', async t => {
  const context = await setup(t)
  const { app, clock, sms } = context
  const phone = '+79123490071'
  const wrongCodesPerDay = context.config.limits.wrongCodesPerPhoneDay
  let guessed = 0
  let refusedFor: string | undefined
  // Each round: a new code, every wrong guess it allows, then a clear; as an attacker holding a key would.
  for (let round = 0; round < 6 && refusedFor === undefined; round++) {
    clock.advance(61_000)
    const sent = await post(app, '/api/users/register/', { phone })
    t.equal(sent.statusCode, 200, `round ${round}: a code is sent (the send quotas were cleared)`)
    const wrong = sms.lastCode(phone) === '0000' ? '1111' : '0000'
    for (let guess = 0; guess < context.config.otp.maxAttempts; guess++) {
      const answer = await post(app, '/api/users/verify_code/', { phone, auth_code: wrong })
      const code = answer.json<{ code: string }>().code
      if (code !== 'code_invalid') {
        refusedFor = code
        break
      }
      guessed++
    }
    t.equal((await call(app, 'POST', '/api/admin/limits/clear/', { phone, reason: `round ${round}` })).statusCode, 200)
  }
  t.equal(guessed, wrongCodesPerDay, 'the phone\'s day budget of wrong codes, not a round\'s worth more per clear')
  t.equal(refusedFor, 'too_many_wrong_codes')
  const left = (await call(app, 'GET', `/api/admin/limits/?phone=${encodeURIComponent(phone)}`)).json<{ limits: Array<{ key: string }> }>().limits
  t.ok(left.some(counter => counter.key === `wrong:phone:${phone}:d`), 'the wrong-code counter survives a clear')
  t.notOk(left.some(counter => counter.key.startsWith('code:')), 'the send quotas are cleared')
})

t.test('every admin read leaves one audit entry, without the data read, with the server\'s own request id beside the caller\'s (issue 22)', async t => {
  const context = await setup(t)
  const { app } = context
  const person = await signIn(context, '+79123490081')
  const id = person.user.id
  const reads: Array<[string, string, { userId: number | null, phone: string | null }]> = [
    ['/api/admin/users/', 'read.users', { userId: null, phone: null }],
    ['/api/admin/users/?phone=%2B79123490081', 'read.users', { userId: id, phone: '+79123490081' }],
    [`/api/admin/users/${id}/`, 'read.user', { userId: id, phone: '+79123490081' }],
    ['/api/admin/limits/?phone=%2B79123490081', 'read.limits', { userId: id, phone: '+79123490081' }],
    [`/api/admin/audit/?user_id=${id}`, 'read.audit', { userId: id, phone: null }]
  ]
  const serverIds: string[] = []
  for (const [index, [url]] of reads.entries()) {
    const answer = await call(app, 'GET', url, undefined, { ...adminHeaders(), 'x-request-id': `chosen-${index}` })
    t.equal(answer.statusCode, 200, url)
  }
  t.equal((await call(app, 'GET', '/api/admin/users/999999/')).statusCode, 404)
  const rows = await app.db.selectFrom('admin_audit').selectAll().orderBy('id').execute()
  t.equal(rows.length, reads.length, 'one entry per read; a refused read (no such account) writes none')
  for (const [index, [url, action, target]] of reads.entries()) {
    const row = rows[index]
    t.match(row, { action, actor_kind: 'key', actor: 'support', target_user_id: target.userId, target_phone: target.phone, ip: '127.0.0.1', request_id: `chosen-${index}` }, url)
    t.match(row?.server_request_id, /^req-[0-9a-z]+$/, `${url}: the server's own id`)
    serverIds.push(String(row?.server_request_id))
    t.notOk(row?.details.includes(person.user.invite_code), `${url}: nothing read is kept`)
  }
  t.equal(new Set(serverIds).size, reads.length, 'each read its own server id')
  const listed = (await call(app, 'GET', '/api/admin/audit/')).json<{ results: Array<{ action: string, server_request_id: string | null }> }>().results
  t.same(listed.map(entry => entry.action), [...reads.map(([, action]) => action)].reverse(), 'reads are in the log')
  t.same(listed.map(entry => entry.server_request_id), [...serverIds].reverse())
  const shown = (await call(app, 'GET', `/api/admin/users/${id}/`)).json<{ audit: unknown[] }>()
  t.same(shown.audit, [], 'an account\'s page lists what was done to it, not who looked')
})
