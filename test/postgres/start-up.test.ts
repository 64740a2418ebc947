import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { sql } from 'kysely'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createDatabase } from '../../src/store/database.js'
import { migrateDown, migrateToLatest } from '../../src/store/migrator.js'
import { testSecret } from '../helpers/app.js'
import { adminQuery, createSchema, postgresOnly, schemaUrl } from '../helpers/database.js'

const runs = postgresOnly()

function configFor (url: string, env: Record<string, string> = {}) {
  return loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'silent', ...env })
}

const migrationNames = Object.keys(migrations)

t.test('DATABASE_POOL_SIZE caps the connections one instance opens', async t => {
  if (!runs) return
  const { schema, drop } = await createSchema()
  const app = await buildApp(configFor(schemaUrl(schema), { DATABASE_POOL_SIZE: '3' }))
  t.teardown(async () => { await app.close(); await drop() })
  const pids = await Promise.all(Array.from({ length: 12 }, async () => {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid, pg_sleep(0.05)`.execute(app.db)
    return rows[0]!.pid
  }))
  t.equal(new Set(pids).size, 3, 'twelve statements at once shared three connections')
})

t.test('five instances starting together on an empty schema: migrations run once, all start', async t => {
  if (!runs) return
  const { schema, drop } = await createSchema()
  const apps = await Promise.all(Array.from({ length: 5 }, async () => await buildApp(configFor(schemaUrl(schema), { DATABASE_POOL_SIZE: '2' }))))
  t.teardown(async () => { await Promise.all(apps.map(async app => await app.close())); await drop() })
  const { rows } = await adminQuery(`select name from ${schema}.kysely_migration`)
  t.same(rows, migrationNames.map(name => ({ name })))
  for (const app of apps) t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
})

t.test('a schema beside another phonepass schema in one database migrates on its own', async t => {
  if (!runs) return
  // kysely alone would take the other schema's migration table for this one's.
  const first = await createSchema()
  t.teardown(first.drop)
  const second = await createSchema()
  t.teardown(second.drop)
  const one = await buildApp(configFor(schemaUrl(first.schema)))
  t.teardown(async () => { await one.close() })
  const two = await buildApp(configFor(schemaUrl(second.schema)))
  t.teardown(async () => { await two.close() })
  const { rows } = await adminQuery(`select table_schema from information_schema.tables where table_name = 'users' and table_schema in ('${first.schema}', '${second.schema}') order by 1`)
  t.same(rows.map(row => row.table_schema as string).sort(), [first.schema, second.schema].sort())
})

t.test('migrations go up, down and up again on PostgreSQL', async t => {
  if (!runs) return
  const { schema, drop } = await createSchema()
  t.teardown(drop)
  const db = createDatabase(schemaUrl(schema), { postgresPoolSize: 1 })
  t.teardown(async () => { await db.destroy() })
  const tables = async (): Promise<string[]> => (await adminQuery(`select table_name from information_schema.tables where table_schema = '${schema}' and table_name not like 'kysely_%' order by 1`)).rows.map(row => row.table_name as string)
  t.same(await migrateToLatest(db), migrationNames.map(name => `Up ${name}`))
  t.same(await tables(), ['admin_audit', 'deleted_phones', 'fraud_rules', 'limit_counters', 'login_codes', 'messages', 'passkeys', 'phone_changes', 'refresh_tokens', 'sessions', 'signing_keys', 'users', 'webauthn_challenges', 'webhook_events'])
  for (const name of [...migrationNames].reverse()) t.same(await migrateDown(db), [`Down ${name}`])
  t.same(await tables(), [])
  t.same(await migrateToLatest(db), migrationNames.map(name => `Up ${name}`))
  const { rows } = await adminQuery(`select data_type from information_schema.columns where table_schema = '${schema}' and table_name = 'users' and column_name = 'id'`)
  t.same(rows, [{ data_type: 'bigint' }], 'ids are bigserial')
  const blocks = await adminQuery(`select column_name, data_type from information_schema.columns where table_schema = '${schema}' and table_name = 'users' and column_name like 'blocked_%' order by 1`)
  t.same(blocks.rows, [{ column_name: 'blocked_at', data_type: 'bigint' }, { column_name: 'blocked_reason', data_type: 'character varying' }], '0006 adds the block columns')
  const audit = await adminQuery(`select column_name, data_type from information_schema.columns where table_schema = '${schema}' and table_name = 'admin_audit' and column_name in ('id', 'target_user_id') order by 1`)
  t.same(audit.rows, [{ column_name: 'id', data_type: 'bigint' }, { column_name: 'target_user_id', data_type: 'bigint' }], '0008: audit ids are bigserial, targets bigint')
  const auditKeys = await adminQuery(`select count(*)::int as n from information_schema.table_constraints where table_schema = '${schema}' and table_name = 'admin_audit' and constraint_type = 'FOREIGN KEY'`)
  t.same(auditKeys.rows, [{ n: 0 }], '0008: no foreign key ties an entry to its user')
  const proofs = await adminQuery(`select column_name, data_type from information_schema.columns where table_schema = '${schema}' and table_name = 'phone_changes' order by 1`)
  t.same(proofs.rows.map(row => `${String(row.column_name)} ${String(row.data_type)}`), ['expires_at bigint', 'phone character varying', 'proven_at bigint', 'user_id bigint'], '0009: a change of number\'s proof')
})

t.test('migrating while other schemas of the database come and go', async t => {
  if (!runs) return
  // kysely's own introspector scans every schema and fails on tables dropped under it.
  let churning = true
  const churn = (async () => {
    let rounds = 0
    while (churning || rounds < 5) {
      const { schema, drop } = await createSchema()
      await adminQuery(`create table ${schema}.a (id bigserial primary key); create table ${schema}.b (id bigserial primary key)`)
      await drop()
      rounds++
    }
  })()
  const results: string[][] = []
  try {
    for (let i = 0; i < 12; i++) {
      const { schema, drop } = await createSchema()
      const db = createDatabase(schemaUrl(schema), { postgresPoolSize: 1 })
      try {
        results.push(await migrateToLatest(db))
      } finally {
        await db.destroy()
        await drop()
      }
    }
  } finally {
    churning = false
    await churn
  }
  t.same(results, Array.from({ length: 12 }, () => migrationNames.map(name => `Up ${name}`)))
})
