import t from 'tap'
import { incrementCounter, readCounter } from '../../src/store/limit-counters.js'
import { findUserByPhone, insertUser } from '../../src/store/users.js'
import { openMigratedDb, testDatabaseKind } from '../helpers/database.js'

// On SQLite the hot queries run as better-sqlite3 statements on the one connection, not
// through kysely's executor (store/prepared.ts). Such a statement must never land inside
// another request's open transaction: a read there would see writes that may still be rolled
// back, and a write there would be rolled back with them. On PostgreSQL the same holds by the
// pool's separate connections.

const dialect = testDatabaseKind === 'postgres' ? 'PostgreSQL' : 'SQLite'
const counter = { key: 'outside', windowStart: 0, expiresAt: 3_600_000 }

t.test(`${dialect}: statements outside a transaction do not land inside another's, open across an await`, async t => {
  const db = await openMigratedDb(t)
  let inserted!: () => void
  const insertedInTransaction = new Promise<void>(resolve => { inserted = resolve })
  let finish!: () => void
  const finishTransaction = new Promise<void>(resolve => { finish = resolve })
  const transaction = db.transaction().execute(async (trx) => {
    await insertUser(trx, { phone: '+79120000001', inviteCode: 'AAAAAA', createdAt: 1 })
    inserted()
    await finishTransaction
    throw new Error('rolled back')
  }).catch((error: unknown) => error)
  await insertedInTransaction
  // Started while the transaction is open and holds its row.
  const read = findUserByPhone(db, '+79120000001')
  const write = incrementCounter(db, counter)
  finish()
  t.match(await transaction, /rolled back/)
  t.equal(await read, undefined, 'the read did not see the row the transaction wrote and then rolled back')
  t.equal(await write, 1)
  t.equal(await readCounter(db, counter), 1, 'the write was not rolled back with the other request\'s transaction')
})

t.test(`${dialect}: a statement in a transaction runs in it`, async t => {
  const db = await openMigratedDb(t)
  const seen = await db.transaction().execute(async (trx) => {
    await insertUser(trx, { phone: '+79120000002', inviteCode: 'BBBBBB', createdAt: 1 })
    return await findUserByPhone(trx, '+79120000002')
  })
  t.equal(seen?.phone, '+79120000002', 'the transaction reads its own write')
  await t.rejects(db.transaction().execute(async (trx) => {
    await incrementCounter(trx, counter)
    throw new Error('rolled back')
  }), /rolled back/)
  t.equal(await readCounter(db, counter), 0, 'and its writes go with it when it rolls back')
})

t.test(`${dialect}: many requests at once, each a transaction or a statement, lose no count`, async t => {
  const db = await openMigratedDb(t)
  const outside = Array.from({ length: 50 }, async () => await incrementCounter(db, counter))
  const inside = Array.from({ length: 50 }, async (_, i) => await db.transaction().execute(async (trx) => {
    await incrementCounter(trx, counter)
    // Every other one gives its count back by rolling back.
    if (i % 2 === 1) throw new Error('rolled back')
  }).catch(() => undefined))
  await Promise.all([...outside, ...inside])
  t.equal(await readCounter(db, counter), 75, '50 outside, 25 committed inside')
})
