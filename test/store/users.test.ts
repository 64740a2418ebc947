import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import { isPostgres } from '../../src/store/database.js'
import { findUserByPhone, insertUser } from '../../src/store/users.js'
import { buildTestApp } from '../helpers/app.js'

t.test('a parallel first sign-in of one phone: the second finds the first one\'s account, without an error', async t => {
  const { app } = await buildTestApp(t)
  const db = app.db
  const phone = '+79123456789'
  let release = (): void => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  let markInserted = (): void => {}
  const inserted = new Promise<void>(resolve => { markInserted = resolve })

  const first = db.transaction().execute(async trx => {
    const user = await insertUser(trx, { phone, inviteCode: 'AAAAAA', createdAt: 1 })
    markInserted()
    await gate
    return user
  })
  await inserted
  const second = db.transaction().execute(async trx => {
    const user = await insertUser(trx, { phone, inviteCode: 'BBBBBB', createdAt: 2 })
    return { user, found: await findUserByPhone(trx, phone) }
  })
  if (isPostgres(db)) {
    // Wait until the second insert stands on the first one's uncommitted row.
    for (let i = 0; i < 200; i++) {
      const { rows } = await sql<{ waiting: number }>`select count(*)::int as waiting from pg_locks l join pg_stat_activity a on a.pid = l.pid where not l.granted and a.query like 'insert into "users"%'`.execute(db)
      if ((rows[0]?.waiting ?? 0) > 0) break
      await sleep(20)
    }
  }
  release()
  const created = await first
  const { user, found } = await second
  t.ok(created, 'the first creates the account')
  t.equal(user, undefined, 'the second insert does nothing (ON CONFLICT DO NOTHING), raising nothing')
  t.equal(found?.id, created?.id, 'and the second then reads the first one\'s account (READ COMMITTED sees the commit)')
  t.equal(found?.invite_code, 'AAAAAA')
})

t.test('ids, times and nulls come back with the same types on both databases', async t => {
  const { app } = await buildTestApp(t)
  const user = await insertUser(app.db, { phone: '+79123456789', inviteCode: 'AAAAAA', createdAt: 1_767_225_600_123 })
  t.type(user?.id, 'number')
  t.equal(user?.created_at, 1_767_225_600_123, 'epoch milliseconds as a number')
  t.equal(user?.invited_by, null)
  const again = await findUserByPhone(app.db, '+79123456789')
  t.same(again, user)
})
