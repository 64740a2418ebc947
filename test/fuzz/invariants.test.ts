import t from 'tap'
import { buildTestApp, signIn } from '../helpers/app.js'
import { findViolations } from '../helpers/invariants.js'
import { WebClient } from '../web/web-client.js'
import { sessionIdOf } from './arbitraries.js'

// The invariant checker the property tests rely on must see a broken database. Each break is
// written straight into the tables (what no route can do); self-invites, shared phones and
// shared invite codes are refused by the schema itself, so they cannot be planted.

t.test('the invariant checker finds nothing in a sound database and each planted break', async t => {
  const context = await buildTestApp(t)
  const { db } = context.app
  const a = await signIn(context, '+79123456701')
  const b = await signIn(context, '+79123456702')
  const c = await signIn(context, '+79123456703')
  await new WebClient(context.app).signIn(context, '+79123456704')
  const now = context.clock.now()
  const observed = {
    inviters: new Map([[a.user.id, null], [b.user.id, null]]),
    users: new Map([['+79123456701', a.user.id]]),
    endedSessions: [] as string[]
  }
  t.same(await findViolations(db, context.config, observed, now), [], 'a sound database')

  t.match(await findViolations(db, context.config, {
    inviters: new Map([[a.user.id, b.user.id]]),
    users: new Map([['+79123456701', b.user.id]]),
    endedSessions: [sessionIdOf(c.access)]
  }, now), [
    `user ${a.user.id}: invited_by null but the API's answers say ${b.user.id}`,
    `phone +79123456701: users [${a.user.id}] but the API answered user ${b.user.id}`,
    /should be over but is not revoked/
  ], 'disagreements with the answers')

  await db.updateTable('users').set({ invited_by: b.user.id, invited_at: now }).where('id', '=', a.user.id).execute()
  await db.updateTable('users').set({ invited_by: a.user.id }).where('id', '=', b.user.id).execute()
  await db.updateTable('users').set({ phone: '89123456703', invite_code: 'abc' }).where('id', '=', c.user.id).execute()
  const web = await db.selectFrom('sessions').select('id').where('kind', '=', 'web').executeTakeFirstOrThrow()
  await db.insertInto('refresh_tokens').values({ token_hash: 'x'.repeat(64), session_id: web.id, created_at: now }).execute()
  await db.insertInto('refresh_tokens').values({ token_hash: 'y'.repeat(64), session_id: sessionIdOf(a.access), created_at: now }).execute()
  await db.updateTable('refresh_tokens').set({ used_at: now }).where('session_id', '=', sessionIdOf(b.access)).execute()
  await db.insertInto('limit_counters').values({ key: 'planted', window_start: 0, count: -1, expires_at: now + 1000 }).execute()
  await db.insertInto('login_codes').values({ phone: '+79123456709', code_hash: 'z', attempts: 9, created_at: now, expires_at: now + 1000, ip: 'unknown' }).execute()
  await db.updateTable('sessions').set({ ip: '1.2.3.4:80' }).where('id', '=', sessionIdOf(c.access)).execute()

  const found = await findViolations(db, context.config, {}, now)
  for (const expected of [
    `user ${c.user.id}: phone "89123456703" is not in normal form`,
    `user ${c.user.id}: invite code "abc" is malformed`,
    `user ${b.user.id}: invited_by and invited_at disagree`,
    /^invite cycle: /,
    /^browser session \w+ has refresh tokens$/,
    `app session ${sessionIdOf(a.access)} has 2 unspent refresh tokens`,
    `live app session ${sessionIdOf(b.access)} has no unspent refresh token`,
    'limit counter planted is -1',
    'login code of +79123456709 tried 9 times (limit 3)',
    'login code of +79123456709: client address "unknown" is no address',
    `session ${sessionIdOf(c.access)}: client address "1.2.3.4:80" is no address`
  ]) {
    t.ok(found.some(problem => typeof expected === 'string' ? problem === expected : expected.test(problem)), `found: ${String(expected)}`)
  }
})
