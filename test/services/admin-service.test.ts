import t from 'tap'
import { sql } from 'kysely'
import { createAdminService, type AdminCaller } from '../../src/services/admin-service.js'
import { blockUser } from '../../src/store/users.js'
import { bearer, buildRecordingApp, post, signIn, type TestContext } from '../helpers/app.js'

// The admin service on both databases: each action done and audited in one transaction, the
// audit log outliving the people it names, the reads, and many admins at once on one account.

const support: AdminCaller = { actor: { kind: 'key', name: 'support' }, ip: '203.0.113.7', requestId: 'req-admin-1' }
const pagesAdmin: AdminCaller = { actor: { kind: 'phone', name: '+79123480000' }, ip: '198.51.100.2', requestId: 'req-page-9' }

interface Tap {
  teardown: (fn: () => unknown) => void
}

async function setup (t: Tap, env: Record<string, string> = {}) {
  const context = await buildRecordingApp(t, { ADMIN_PHONES: '+79123480000', ...env })
  return { ...context, admin: context.app.services.admin }
}

async function auditRows (context: TestContext) {
  const rows = await context.app.db.selectFrom('admin_audit').selectAll().where('action', 'not like', 'read.%').orderBy('id').execute()
  return rows.map(row => ({ ...row, id: Number(row.id), at: Number(row.at), target_user_id: row.target_user_id === null ? null : Number(row.target_user_id), details: JSON.parse(row.details) as Record<string, unknown> }))
}

async function eventTypes (context: TestContext, userId: number): Promise<string[]> {
  const rows = await context.app.db.selectFrom('webhook_events').select('type').where('user_id', '=', userId).orderBy('id').execute()
  return rows.map(row => row.type)
}

async function liveSessions (context: TestContext, userId: number): Promise<number> {
  const rows = await context.app.db.selectFrom('sessions').select('id')
    .where('user_id', '=', userId).where('revoked_at', 'is', null).where('expires_at', '>', context.clock.now()).execute()
  return rows.length
}

async function me (context: TestContext, access: string): Promise<number> {
  return (await context.app.inject({ url: '/api/users/me/', headers: bearer(access) })).statusCode
}

t.test('each action is done and writes exactly one entry: who, what, whom, when, from where', async t => {
  const context = await setup(t)
  const { admin, clock } = context
  const phone = '+79123480001'
  const first = await signIn(context, phone)
  clock.advance(61_000)
  const second = await signIn(context, phone)
  const userId = first.user.id
  const [oneSession] = (await admin.showUser(support, userId)).sessions
  if (oneSession === undefined) throw new Error('a live session was expected')

  clock.advance(1000)
  t.same(await admin.revokeSession(support, userId, oneSession.id, 'lost phone'), { phone, revoked: 1 })
  t.equal(await liveSessions(context, userId), 1, 'one session ended, the other lives')
  t.same(await admin.revokeSession(support, userId, oneSession.id), { phone, revoked: 0 }, 'ending it again ends nothing')
  await t.rejects(admin.revokeSession(support, userId, 'f'.repeat(32)), { code: 'session_not_found' })

  clock.advance(1000)
  t.same(await admin.revokeAllSessions(pagesAdmin, userId), { phone, revoked: 1 })
  t.equal(await me(context, second.access), 401)
  t.equal(await me(context, first.access), 401)

  clock.advance(1000)
  t.same(await admin.blockUser(support, userId, '  spam invites  '), { phone, changed: true, revoked: 0 })
  t.same(await admin.blockUser(support, userId, 'again'), { phone, changed: false, revoked: 0 })
  await t.rejects(admin.blockUser(support, userId, '   '), { code: 'reason_invalid' })
  t.same(await admin.unblockUser(pagesAdmin, userId, 'appeal accepted'), { phone, changed: true, revoked: 0 })
  const before = (await admin.showUser(support, userId)).limits
  const counters = before.filter(counter => counter.key.startsWith('code:')).length
  t.ok(counters >= 4, 'the phone has send counters')
  t.same(await admin.clearLimits(support, userId), { phone, deleted: counters }, 'the phone\'s send quotas go')
  t.same((await admin.showUser(support, userId)).limits.map(counter => counter.key), before.filter(counter => !counter.key.startsWith('code:')).map(counter => counter.key),
    'its wrong-code and device counters stay (issue 22)')
  t.same(await admin.clearPhoneLimits(support, '8 912 348-00-99'), { phone: '+79123480099', deleted: 0 }, 'a phone without an account')

  const entries = await auditRows(context)
  t.same(entries.map(e => [e.action, e.actor_kind, e.actor, e.details]), [
    ['session.revoke', 'key', 'support', { reason: 'lost phone', session: oneSession.id.slice(0, 8), revoked: 1 }],
    ['session.revoke', 'key', 'support', { session: oneSession.id.slice(0, 8), revoked: 0 }],
    ['sessions.revoke_all', 'phone', '+79123480000', { revoked: 1 }],
    ['user.block', 'key', 'support', { reason: 'spam invites', changed: true, revoked: 0 }],
    ['user.block', 'key', 'support', { reason: 'again', changed: false, revoked: 0 }],
    ['user.unblock', 'phone', '+79123480000', { reason: 'appeal accepted', changed: true, blockedReason: 'spam invites' }],
    ['limits.clear', 'key', 'support', { deleted: counters }],
    ['limits.clear', 'key', 'support', { deleted: 0 }]
  ], 'one entry per action that ran; refused ones (unknown session, blank reason) wrote none')
  for (const entry of entries.slice(0, -1)) {
    t.match(entry, { target_user_id: userId, target_phone: phone }, `${entry.action}: whom`)
    t.ok(entry.ip === '203.0.113.7' || entry.ip === '198.51.100.2', `${entry.action}: from where`)
    t.ok(entry.request_id === 'req-admin-1' || entry.request_id === 'req-page-9', `${entry.action}: which request`)
  }
  t.match(entries.at(-1), { target_user_id: null, target_phone: '+79123480099' })
  t.same(entries.map(e => e.at), [1, 1, 2, 3, 3, 3, 3, 3].map(n => Date.UTC(2026, 0, 1) + 61_000 + n * 1000), 'when: the action\'s own clock')
  t.same(await eventTypes(context, userId), ['user.created', 'user.blocked', 'user.unblocked'], 'the block\'s events, once each')
})

t.test('deleting: the person\'s own path (tombstone, sessions, user.deleted), audited; entries outlive the account', async t => {
  const context = await setup(t)
  const { admin, app, clock } = context
  const inviter = await signIn(context, '+79123480011')
  const person = await signIn(context, '+79123480012')
  t.equal((await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(person.access), payload: { invite_code: inviter.user.invite_code } })).statusCode, 200)
  await admin.blockUser(support, person.user.id, 'fraud')
  clock.advance(1000)

  t.same(await admin.deleteUser(pagesAdmin, person.user.id, 'asked by phone'), { userId: person.user.id, phone: '+79123480012' })
  const row = await app.db.selectFrom('users').selectAll().where('id', '=', person.user.id).executeTakeFirstOrThrow()
  t.match(row, { phone: `#${person.user.id}`, deleted_at: clock.now(), invited_by: null, blocked_at: null })
  t.equal((await app.db.selectFrom('sessions').select('id').where('user_id', '=', person.user.id).execute()).length, 0, 'sessions deleted, not only revoked')
  t.same(await eventTypes(context, person.user.id), ['user.created', 'invite.activated', 'user.blocked', 'user.deleted'])
  await t.rejects(admin.showUser(support, person.user.id), { code: 'user_not_found' }, 'a deleted account is not found')
  await t.rejects(admin.deleteUser(support, person.user.id), { code: 'user_not_found' })
  await t.rejects(admin.blockUser(support, person.user.id, 'late'), { code: 'user_not_found' })

  const entries = await admin.listAudit(support, { userId: person.user.id })
  t.same(entries.entries.map(e => [e.action, e.target]), [
    ['user.delete', { userId: person.user.id, phone: '+79123480012' }],
    ['user.block', { userId: person.user.id, phone: '+79123480012' }]
  ], 'the entries stay, with the phone the account had')
  t.same(entries.entries[0]?.details, { reason: 'asked by phone' })
  t.same((await admin.listAudit(support, { phone: '+7 912 348-00-12' })).entries.map(e => e.action), ['user.delete', 'user.block'], 'found by the phone it had')

  // The person's own deletion (the API's DELETE /api/users/me/) leaves earlier entries alone.
  await admin.clearLimits(support, inviter.user.id)
  clock.advance(61_000)
  await post(app, '/api/users/register/', { phone: '+79123480011' })
  const own = await app.inject({ method: 'DELETE', url: '/api/users/me/', headers: bearer(inviter.access), payload: { auth_code: context.sms.lastCode('+79123480011') } })
  t.equal(own.statusCode, 204)
  t.same((await admin.listAudit(support, { userId: inviter.user.id })).entries.map(e => [e.action, e.target.phone]), [['limits.clear', '+79123480011']])
  t.equal((await auditRows(context)).length, 3, 'nothing was deleted from the log')
})

t.test('the action and its entry are one transaction: an entry that cannot be written undoes the action', async t => {
  const context = await setup(t)
  const { admin, app } = context
  const person = await signIn(context, '+79123480021')
  // Rename the log away: the entry's insert fails inside the block's transaction.
  await sql`alter table admin_audit rename to admin_audit_away`.execute(app.db)
  await t.rejects(admin.blockUser(support, person.user.id, 'spam'))
  await t.rejects(admin.revokeAllSessions(support, person.user.id))
  await t.rejects(admin.deleteUser(support, person.user.id))
  await sql`alter table admin_audit_away rename to admin_audit`.execute(app.db)
  const row = await app.db.selectFrom('users').select(['phone', 'blocked_at', 'deleted_at']).where('id', '=', person.user.id).executeTakeFirstOrThrow()
  t.same(row, { phone: '+79123480021', blocked_at: null, deleted_at: null }, 'not blocked, not deleted')
  t.equal(await liveSessions(context, person.user.id), 1, 'the session lives')
  t.same(await eventTypes(context, person.user.id), ['user.created'], 'no event was recorded either')
  t.equal(await me(context, person.access), 200)
})

t.test('many admins at once on one account: one state, one changed entry', async t => {
  const context = await setup(t)
  const { admin, app } = context
  const person = await signIn(context, '+79123480031')

  const blocks = await Promise.all(Array.from({ length: 20 }, async (_, i) => await admin.blockUser({ ...support, requestId: `req-${i}` }, person.user.id, `reason ${i}`)))
  t.equal(blocks.filter(result => result.changed).length, 1, 'one block changed the account')
  t.equal(blocks.reduce((sum, result) => sum + result.revoked, 0), 1, 'and ended its session, once')
  const blockEntries = (await auditRows(context)).filter(e => e.action === 'user.block')
  t.equal(blockEntries.length, 20, 'every block that ran is in the log')
  const changed = blockEntries.filter(e => e.details.changed === true)
  t.equal(changed.length, 1, 'exactly one entry says it changed the account')
  const stored = await app.db.selectFrom('users').select('blocked_reason').where('id', '=', person.user.id).executeTakeFirstOrThrow()
  t.equal(stored.blocked_reason, changed[0]?.details.reason, 'the reason kept is the changing block\'s')
  t.same(await eventTypes(context, person.user.id), ['user.created', 'user.blocked'], 'one user.blocked event')

  // Deletions, blocks and unblocks fired together: one deletion wins, and everything after it finds no account.
  const results = await Promise.allSettled(Array.from({ length: 21 }, async (_, i) => {
    if (i % 3 === 0) return await admin.deleteUser(support, person.user.id)
    if (i % 3 === 1) return await admin.unblockUser(support, person.user.id)
    return await admin.blockUser(support, person.user.id, `again ${i}`)
  }))
  const deletes = results.filter((_, i) => i % 3 === 0)
  t.equal(deletes.filter(r => r.status === 'fulfilled').length, 1, 'one deletion succeeded')
  for (const result of results) {
    if (result.status === 'rejected') t.match(result.reason, { code: 'user_not_found' }, 'the others found no account')
  }
  const entries = await auditRows(context)
  t.equal(entries.filter(e => e.action === 'user.delete').length, 1, 'one deletion entry')
  t.equal(entries.length, 20 + results.filter(r => r.status === 'fulfilled').length, 'an entry for each action that ran, none for a refused one')
  const deletion = entries.findIndex(e => e.action === 'user.delete')
  t.equal(deletion, entries.length - 1, 'nothing ran on the account after its deletion')
  const row = await app.db.selectFrom('users').select(['phone', 'blocked_at', 'deleted_at']).where('id', '=', person.user.id).executeTakeFirstOrThrow()
  t.match(row, { phone: `#${person.user.id}`, blocked_at: null })
  t.not(row.deleted_at, null)
  t.equal((await eventTypes(context, person.user.id)).filter(type => type === 'user.deleted').length, 1)
})

t.test('finding people: by phone, by invite code, all newest first, in pages that do not shift', async t => {
  const context = await setup(t)
  const { admin } = context
  const ids: number[] = []
  for (let i = 0; i < 7; i++) ids.push((await signIn(context, `+7912348004${i}`)).user.id)
  const newestFirst = [...ids].reverse()

  const seen: number[] = []
  let page = await admin.findUsers(support, { limit: 3 })
  t.equal(page.users.length, 3)
  seen.push(...page.users.map(u => u.id))
  // A sign-up between two pages goes to the top; the next page neither repeats nor skips anyone.
  const late = await signIn(context, '+79123480049')
  while (page.nextCursor !== null) {
    page = await admin.findUsers(support, { limit: 3, cursor: page.nextCursor })
    seen.push(...page.users.map(u => u.id))
  }
  t.same(seen, newestFirst)
  t.same((await admin.findUsers(support, { limit: 1 })).users.map(u => u.id), [late.user.id])

  const found = await admin.findUsers(support, { phone: '8 (912) 348-00-43' })
  t.same(found.users.map(u => u.id), [ids[3]], 'by phone: normalised, exact')
  t.equal(found.nextCursor, null)
  const code = found.users[0]?.inviteCode ?? ''
  t.same((await admin.findUsers(support, { inviteCode: `${code.slice(0, 3).toLowerCase()}-${code.slice(3)}` })).users.map(u => u.id), [ids[3]], 'by invite code, as people type it')
  t.same((await admin.findUsers(support, { phone: '+79123480048' })).users, [], 'no such phone: an empty page')
  await t.rejects(admin.findUsers(support, { phone: 'abc' }), { code: 'phone_invalid' })
  await t.rejects(admin.findUsers(support, { inviteCode: '!!' }), { code: 'invite_code_invalid' })
  t.equal((await admin.findUsers(support, { limit: 100_000 })).users.length, 8, 'the page size is capped, not refused')

  await admin.deleteUser(support, ids[0] as number)
  t.notOk((await admin.findUsers(support, { limit: 200 })).users.some(u => u.id === ids[0]), 'deleted accounts are not listed')
})

t.test('one person on one screen: inviter, invitees, live sessions, limits, events, audit', async t => {
  const context = await setup(t)
  const { admin, app, clock } = context
  const inviter = await signIn(context, '+79123480051')
  const person = await signIn(context, '+79123480052')
  const invitee = await signIn(context, '+79123480053')
  await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(person.access), payload: { invite_code: inviter.user.invite_code } })
  await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(invitee.access), payload: { invite_code: person.user.invite_code } })
  clock.advance(61_000)
  const other = await signIn(context, '+79123480052')
  await app.inject({ method: 'POST', url: '/api/users/logout/', payload: { refresh: other.refresh } })
  clock.advance(61_000)
  await post(app, '/api/users/register/', { phone: '+79123480052' })
  await admin.blockUser(support, invitee.user.id, 'x')

  const view = await admin.showUser(support, person.user.id)
  t.match(view, {
    id: person.user.id,
    phone: '+79123480052',
    inviteCode: person.user.invite_code,
    blocked: null,
    inviter: { id: inviter.user.id, phone: '+79123480051', inviteCode: inviter.user.invite_code },
    invitees: { count: 1, latest: [{ id: invitee.user.id, phone: '+79123480053' }] },
    loginCode: { state: 'live', attempts: 0 }
  })
  t.equal(view.sessions.length, 1, 'live sessions only: the one signed out is left out')
  t.match(view.sessions[0], { kind: 'api', ip: '127.0.0.1' })
  const keys = view.limits.map(l => l.key)
  t.ok(keys.includes('code:all:+79123480052:d') && keys.includes('code:phone:+79123480052:h'), 'its send counters')
  t.ok(keys.every(key => key.includes(':+79123480052')), 'and only counters about its phone (not the IP\'s)')
  t.match(view.limits.find(l => l.key === 'code:phone:+79123480052:h'), { count: 3 })
  t.same(view.events.map(e => e.type), ['invite.activated', 'user.created'], 'its outbox events, newest first (user.signed_in is not sent by default)')
  t.same(view.audit, [], 'no admin has acted on it')
  t.match((await admin.showUser(support, invitee.user.id)).audit, [{ action: 'user.block', actor: { kind: 'key', name: 'support' } }])
  await admin.deleteUser(support, inviter.user.id)
  t.match((await admin.showUser(support, person.user.id)).inviter, { id: inviter.user.id, phone: null }, 'a deleted inviter has no phone')

  t.same(await admin.phoneLimits(support, '+79123480099'), { phone: '+79123480099', userId: null, limits: [] })
  t.match(await admin.phoneLimits(support, '+79123480052'), { userId: person.user.id, limits: [{ key: 'code:all:+79123480052:d' }] })
})

t.test('the SMS spend of this hour and this day, against the hourly cap', async t => {
  // The whole cap for new numbers: the fraud guard's reserved share is tested in test/api/fraud-guard.test.ts.
  const context = await setup(t, { SMS_HOURLY_CAP: '3', FRAUD_RESERVED_CAP_PERCENT: '0' })
  const { admin, app, clock, sms } = context
  t.same(await admin.smsSpend(), {
    hourlyCap: 3,
    hour: { sent: 0, refused: 0, windowStart: Date.UTC(2026, 0, 1), windowEnd: Date.UTC(2026, 0, 1, 1) },
    day: { sent: 0, windowStart: Date.UTC(2026, 0, 1), windowEnd: Date.UTC(2026, 0, 2) }
  })
  for (const phone of ['+79123480061', '+79123480062', '+79123480063']) t.equal((await post(app, '/api/users/register/', { phone })).statusCode, 200)
  t.equal((await post(app, '/api/users/register/', { phone: '+79123480064' })).statusCode, 503, 'over the cap')
  t.equal((await post(app, '/api/users/register/', { phone: '+15550100001' })).statusCode, 200, 'a test number sends no SMS')
  t.match(await admin.smsSpend(), { hour: { sent: 3, refused: 1 }, day: { sent: 3 } })

  // A send the provider fails is given back, in the hour and in the day.
  clock.advance(3_600_000)
  sms.behave((_message, response) => { response.writeHead(500).end() })
  t.equal((await post(app, '/api/users/register/', { phone: '+79123480065' })).statusCode, 503)
  sms.behave((_message, response) => { response.writeHead(202, { 'content-type': 'application/json' }).end('{"queued":true}') })
  t.equal((await post(app, '/api/users/register/', { phone: '+79123480066' })).statusCode, 200)
  t.match(await admin.smsSpend(), { hour: { sent: 1, refused: 0, windowStart: Date.UTC(2026, 0, 1, 1) }, day: { sent: 4 } })
})

t.test('the audit log in pages, newest first', async t => {
  const context = await setup(t)
  const { admin } = context
  const person = await signIn(context, '+79123480071')
  const other = await signIn(context, '+79123480072')
  for (let i = 0; i < 5; i++) await admin.clearLimits(support, person.user.id, `round ${i}`)
  await admin.clearLimits(support, other.user.id)
  const first = await admin.listAudit(support, { limit: 4 })
  t.same(first.entries.map(e => e.details.reason ?? e.target.userId), [other.user.id, 'round 4', 'round 3', 'round 2'])
  const second = await admin.listAudit(support, { limit: 4, cursor: first.nextCursor ?? undefined })
  t.same(second.entries.map(e => e.details.reason), ['round 1', 'round 0'])
  t.equal(second.nextCursor, null)
  const mine = await admin.listAudit(support, { userId: person.user.id, limit: 5 })
  t.equal(mine.entries.length, 5)
  t.equal(mine.nextCursor, null, 'no empty page promised')
  t.same((await admin.listAudit(support, { userId: other.user.id })).entries.map(e => e.action), ['limits.clear'])
})

t.test('who is an admin: keys by their name, compared whole; phones in ADMIN_PHONES now', async t => {
  const support32 = 'k'.repeat(40)
  const context = await setup(t, { PHONEPASS_ADMIN_KEYS: `support:${support32},crm:${'c'.repeat(32)}` })
  const { admin, app, config, clock } = context
  t.same(admin.authenticateKey(support32), { kind: 'key', name: 'support' })
  t.same(admin.authenticateKey('c'.repeat(32)), { kind: 'key', name: 'crm' })
  t.equal(admin.authenticateKey(support32.slice(1)), undefined, 'a prefix is not the key')
  t.equal(admin.authenticateKey(support32 + 'k'), undefined)
  t.equal(admin.authenticateKey(''), undefined)
  t.equal(admin.authenticateKey(`support:${support32}`), undefined, 'the name is not part of the secret')

  const boss = await signIn(context, '+79123480000')
  const person = await signIn(context, '+79123480081')
  t.same(await admin.actorForUser(boss.user.id), { kind: 'phone', name: '+79123480000' })
  t.equal(await admin.actorForUser(person.user.id), undefined)
  t.equal(await admin.actorForUser(999_999), undefined)
  // The same database, the phone taken off ADMIN_PHONES (a restart with new settings): no longer an admin.
  const withoutBoss = createAdminService({ db: app.db, config: { ...config, adminPhones: new Set() }, clock, logger: app.log })
  t.equal(await withoutBoss.actorForUser(boss.user.id), undefined)
  // A blocked admin is no admin, even with a session the block did not end (the row alone set).
  await blockUser(app.db, boss.user.id, 'left the team', clock.now())
  t.equal(await admin.actorForUser(boss.user.id), undefined, 'a blocked admin')
  // A key taken out of PHONEPASS_ADMIN_KEYS (a restart without it) is refused; the others still work.
  const rotated = createAdminService({ db: app.db, config: { ...config, adminKeys: config.adminKeys.filter(key => key.name !== 'support') }, clock, logger: app.log })
  t.equal(rotated.authenticateKey(support32), undefined)
  t.same(rotated.authenticateKey('c'.repeat(32)), { kind: 'key', name: 'crm' })
})
