import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { sql } from 'kysely'
import { createDatabase, isDatabaseUnavailable, openSqlite, postgresConnectionString, readTogether } from '../../src/store/database.js'
import { incrementCounter, readCounter } from '../../src/store/limit-counters.js'
import { migrateToLatest } from '../../src/store/migrator.js'
import { findUserByPhone } from '../../src/store/users.js'
import { testSecret } from '../helpers/app.js'
import { temporarySqliteFor } from '../helpers/database.js'

function failure (code: string | undefined, message = 'failed'): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code })
}

t.test('a database that cannot serve now is told apart from a bug', async t => {
  for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_READONLY',
    'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
    '08006', '08001', '57P01', '57P02', '57P03', '53300', '57014', '40P01', '40001']) {
    t.ok(isDatabaseUnavailable(failure(code)), `${code} is unavailable (503)`)
  }
  for (const message of ['Connection terminated unexpectedly', 'Connection terminated due to connection timeout',
    'timeout exceeded when trying to connect', 'Client has encountered a connection error and is not queryable']) {
    t.ok(isDatabaseUnavailable(failure(undefined, message)), `node-postgres "${message}" is unavailable (503)`)
  }
  for (const code of ['SQLITE_CONSTRAINT_UNIQUE', '23505', '42P01', '22P02', undefined]) {
    t.notOk(isDatabaseUnavailable(failure(code)), `${String(code)} is not (a bug: 500)`)
  }
  t.notOk(isDatabaseUnavailable('ECONNREFUSED'), 'only errors count')
  t.notOk(isDatabaseUnavailable(null))
})

t.test('DATABASE_POOL_SIZE and PGSSLMODE are read and checked', async t => {
  const load = (env: Record<string, string>) => loadConfig({ PHONEPASS_SECRET: testSecret, ...env })
  t.equal(load({}).databasePoolSize, 10, 'ten connections per instance by default')
  t.equal(load({ DATABASE_POOL_SIZE: '25' }).databasePoolSize, 25)
  t.throws(() => load({ DATABASE_POOL_SIZE: '0' }), new ConfigError('Invalid configuration: DATABASE_POOL_SIZE must be a whole number of PostgreSQL connections per instance from 1 to 1000, got "0"'))
  t.equal(load({ PGSSLMODE: 'require' }).pgSslMode, 'require')
  t.equal(load({}).pgSslMode, undefined)
  t.throws(() => load({ PGSSLMODE: 'always' }), /PGSSLMODE must be one of disable, allow, prefer, require, no-verify, verify-ca, verify-full, got "always"/)
  t.equal(load({ DATABASE_URL: 'postgresql://app:pw@db.internal:5432/phonepass?sslmode=require' }).databaseUrl, 'postgresql://app:pw@db.internal:5432/phonepass?sslmode=require')
})

t.test('the connection string given to node-postgres', async t => {
  t.equal(postgresConnectionString('postgres://u@h/d'), 'postgres://u@h/d', 'untouched without an sslmode')
  t.equal(postgresConnectionString('postgres://u@h/d?sslmode=require'), 'postgres://u@h/d?sslmode=require&uselibpqcompat=true')
  t.equal(postgresConnectionString('postgres://u@h/d', 'prefer'), 'postgres://u@h/d?sslmode=require&uselibpqcompat=true')
  t.equal(postgresConnectionString('postgres://u@h/d', ''), 'postgres://u@h/d', 'an empty PGSSLMODE is no setting')
  t.throws(() => postgresConnectionString('postgres://u@h/d?sslmode=sometimes'), /unknown sslmode "sometimes"/)
})

t.test('a PostgreSQL server that refuses connections gives an "unavailable" error, not a crash', async t => {
  // Port 1 on this machine: nothing listens, the connection is refused at once.
  const db = createDatabase('postgres://postgres@127.0.0.1:1/phonepass', { postgresPoolSize: 1 })
  t.teardown(async () => { await db.destroy() })
  const failure = await sql`select 1`.execute(db).then(() => undefined, (error: unknown) => error)
  t.ok(isDatabaseUnavailable(failure), String(failure))
})

t.test('SQLite: readTogether reads one snapshot, which another connection\'s commit does not change', async t => {
  const { file } = temporarySqliteFor(t)
  const db = createDatabase(`sqlite:${file}`)
  t.teardown(async () => { await db.destroy() })
  await migrateToLatest(db)
  // Another process's connection, as a second worker has.
  const other = openSqlite(file)
  t.teardown(() => { other.close() })
  const [first, second] = await readTogether(db, async (snapshot) => {
    const first = await findUserByPhone(snapshot, '+79120000001')
    other.prepare('insert into users (phone, invite_code, created_at) values (?, ?, ?)').run('+79120000001', 'AAAAAA', 1)
    return [first, await findUserByPhone(snapshot, '+79120000001')]
  })
  t.equal(first, undefined)
  t.equal(second, undefined, 'the second read sees the state the first saw')
  t.equal((await findUserByPhone(db, '+79120000001'))?.invite_code, 'AAAAAA', 'the next read sees the commit')
})

t.test('SQLite: a write in readTogether is refused, and the next transaction writes', async t => {
  const db = createDatabase('sqlite::memory:')
  t.teardown(async () => { await db.destroy() })
  await migrateToLatest(db)
  const counter = { key: 'k', windowStart: 0, expiresAt: 1 }
  await t.rejects(readTogether(db, async (snapshot) => await incrementCounter(snapshot, counter)), /a write in a read transaction/)
  await t.rejects(readTogether(db, async (snapshot) => await snapshot.deleteFrom('limit_counters').execute()), /a write in a read transaction/, 'through kysely\'s executor too')
  t.same(await readTogether(db, async (snapshot) => await snapshot.selectFrom('limit_counters').selectAll().execute()), [], 'a query through kysely\'s executor reads on the held connection')
  t.equal(await readCounter(db, counter), 0)
  await db.transaction().execute(async (trx) => { await incrementCounter(trx, counter) })
  t.equal(await incrementCounter(db, counter), 2, 'writes go on after it, in transactions and out')
})

t.test('SQLite: while readTogether holds the connection, others\' statements and transactions wait for it, then run', async t => {
  const db = createDatabase('sqlite::memory:')
  t.teardown(async () => { await db.destroy() })
  await migrateToLatest(db)
  const counter = { key: 'k', windowStart: 0, expiresAt: 1 }
  let started!: () => void
  const readStarted = new Promise<void>(resolve => { started = resolve })
  let finish!: () => void
  const finishRead = new Promise<void>(resolve => { finish = resolve })
  const read = readTogether(db, async (snapshot) => {
    const first = await readCounter(snapshot, counter)
    started()
    await finishRead
    return [first, await readCounter(snapshot, counter)]
  })
  await readStarted
  // Started while the read transaction is open across an await.
  const outside = incrementCounter(db, counter)
  const inTransaction = db.transaction().execute(async (trx) => await incrementCounter(trx, counter))
  const anotherRead = readTogether(db, async (snapshot) => await readCounter(snapshot, counter))
  finish()
  t.same(await read, [0, 0], 'the read transaction saw neither write')
  t.same((await Promise.all([outside, inTransaction])).sort(), [1, 2], 'both writes ran after it, outside it (a write in it would be refused)')
  t.equal(await anotherRead, 2, 'the next read transaction waited its turn and sees both')
})
