import t from 'tap'
import { openSqlite } from '../../src/store/database.js'
import { bearer, buildTestApp, signIn } from '../helpers/app.js'
import { temporarySqliteFor } from '../helpers/database.js'

// SQLite only (the PostgreSQL pass leaves this file out: there each statement runs on the pool
// as before). GET /api/users/me/ looks up the token's session and reads the profile in one
// read transaction: what another process (a second worker) commits in between is not seen
// half-way.

t.test('SQLite: the session and the profile are read in one snapshot', async t => {
  const { file } = temporarySqliteFor(t)
  const context = await buildTestApp(t, { DATABASE_URL: `sqlite:${file}` })
  const { app } = context
  const me = await signIn(context, '+79120000001')
  t.equal((await app.inject({ url: '/api/users/me/', headers: bearer(me.access) })).json<{ phone: string }>().phone, '+79120000001', 'me answers on the file')

  const other = openSqlite(file)
  t.teardown(() => { other.close() })
  const { authenticated, read: profile } = await app.services.auth.authenticateAccessTokenAndRead(me.access, async (snapshot, userId) => {
    // Committed by another connection after the session was looked up, before the profile is read.
    other.prepare('update users set phone = ? where id = ?').run('+79120000002', userId)
    return await app.services.profile.findOwnProfile(snapshot, userId)
  })
  t.equal(authenticated.userId, me.user.id)
  t.equal(profile.phone, '+79120000001', 'the profile as it was when the session was found')
  t.equal((await app.inject({ url: '/api/users/me/', headers: bearer(me.access) })).json<{ phone: string }>().phone, '+79120000002', 'the next request sees the commit')
})
