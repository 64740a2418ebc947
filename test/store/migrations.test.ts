import t from 'tap'
import { sql } from 'kysely'
import { createDatabase } from '../../src/store/database.js'
import { migrateDown, migrateToLatest } from '../../src/store/migrator.js'

async function tables (db: ReturnType<typeof createDatabase>): Promise<string[]> {
  const result = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'kysely_%' order by name`.execute(db)
  return result.rows.map(row => row.name)
}

async function userColumns (db: ReturnType<typeof createDatabase>): Promise<string[]> {
  const result = await sql<{ name: string }>`select name from pragma_table_info('users') order by name`.execute(db)
  return result.rows.map(row => row.name)
}

async function auditColumns (db: ReturnType<typeof createDatabase>): Promise<string[]> {
  const result = await sql<{ name: string }>`select name from pragma_table_info('admin_audit') order by name`.execute(db)
  return result.rows.map(row => row.name)
}

t.test('migrations go up, down and up again', async t => {
  const db = createDatabase('sqlite::memory:')
  t.teardown(async () => { await db.destroy() })
  t.same(await migrateToLatest(db), ['Up 0001_initial', 'Up 0002_invited_order', 'Up 0003_login_code_spent', 'Up 0004_signing_keys', 'Up 0005_webhook_events', 'Up 0006_user_blocks', 'Up 0007_account_deletion', 'Up 0008_admin_audit', 'Up 0009_phone_changes', 'Up 0010_admin_audit_reads', 'Up 0012_fraud_rules', 'Up 0013_passkeys', 'Up 0014_messages', 'Up 0015_retention_indexes', 'Up 0016_passkey_sessions'])
  t.same(await tables(db), ['admin_audit', 'deleted_phones', 'fraud_rules', 'limit_counters', 'login_codes', 'messages', 'passkeys', 'phone_changes', 'refresh_tokens', 'sessions', 'signing_keys', 'users', 'webauthn_challenges', 'webhook_events'])
  t.same(await migrateToLatest(db), [], 'a second run does nothing')
  t.same(await userColumns(db), ['blocked_at', 'blocked_reason', 'created_at', 'deleted_at', 'id', 'invite_code', 'invited_at', 'invited_by', 'phone'])
  await db.insertInto('users').values([
    { id: 1, phone: '+79123456701', invite_code: 'AAAAAA', created_at: 1 },
    { id: 2, phone: '#2', invite_code: 'BBBBBB', created_at: 1, deleted_at: 2 },
    { id: 3, phone: '+79123456703', invite_code: 'CCCCCC', created_at: 1, invited_by: 2, invited_at: 2 }
  ]).execute()
  await db.insertInto('admin_audit').values({ at: 1, actor_kind: 'cli', actor: 'root', action: 'user.block', target_user_id: 99, target_phone: '+79123456799', details: '{}' }).execute()
  t.same(await db.selectFrom('admin_audit').select('target_user_id').execute(), [{ target_user_id: 99 }], 'an entry may name a user that is not there (no foreign key)')
  t.same(await auditColumns(db), ['action', 'actor', 'actor_kind', 'at', 'details', 'id', 'ip', 'request_id', 'server_request_id', 'target_phone', 'target_user_id'])
  t.same(await migrateDown(db), ['Down 0016_passkey_sessions'])
  t.same(await migrateDown(db), ['Down 0015_retention_indexes'])
  t.same(await migrateDown(db), ['Down 0014_messages'])
  t.same(await tables(db), ['admin_audit', 'deleted_phones', 'fraud_rules', 'limit_counters', 'login_codes', 'passkeys', 'phone_changes', 'refresh_tokens', 'sessions', 'signing_keys', 'users', 'webauthn_challenges', 'webhook_events'])
  t.same(await migrateDown(db), ['Down 0013_passkeys'])
  t.same(await tables(db), ['admin_audit', 'deleted_phones', 'fraud_rules', 'limit_counters', 'login_codes', 'phone_changes', 'refresh_tokens', 'sessions', 'signing_keys', 'users', 'webhook_events'])
  t.same(await migrateDown(db), ['Down 0012_fraud_rules'])
  t.same(await tables(db), ['admin_audit', 'deleted_phones', 'limit_counters', 'login_codes', 'phone_changes', 'refresh_tokens', 'sessions', 'signing_keys', 'users', 'webhook_events'])
  t.same(await migrateDown(db), ['Down 0010_admin_audit_reads'])
  t.same(await auditColumns(db), ['action', 'actor', 'actor_kind', 'at', 'details', 'id', 'ip', 'request_id', 'target_phone', 'target_user_id'])
  t.same(await db.selectFrom('admin_audit').select('target_user_id').execute(), [{ target_user_id: 99 }], 'entries survive the column\'s removal')
  t.same(await migrateDown(db), ['Down 0009_phone_changes'])
  t.same(await tables(db), ['admin_audit', 'deleted_phones', 'limit_counters', 'login_codes', 'refresh_tokens', 'sessions', 'signing_keys', 'users', 'webhook_events'])
  t.same(await migrateDown(db), ['Down 0008_admin_audit'])
  t.same(await tables(db), ['deleted_phones', 'limit_counters', 'login_codes', 'refresh_tokens', 'sessions', 'signing_keys', 'users', 'webhook_events'])
  t.same(await migrateDown(db), ['Down 0007_account_deletion'])
  const left = await db.selectFrom('users').select(['id', 'invited_by']).orderBy('id').execute()
  t.same(left, [{ id: 1, invited_by: null }, { id: 3, invited_by: null }], 'down drops tombstones; their invitees lose the link')
  await db.deleteFrom('users').execute()
  t.same(await tables(db), ['limit_counters', 'login_codes', 'refresh_tokens', 'sessions', 'signing_keys', 'users', 'webhook_events'])
  t.same(await userColumns(db), ['blocked_at', 'blocked_reason', 'created_at', 'id', 'invite_code', 'invited_at', 'invited_by', 'phone'])
  t.same(await migrateDown(db), ['Down 0006_user_blocks'])
  t.same(await userColumns(db), ['created_at', 'id', 'invite_code', 'invited_at', 'invited_by', 'phone'])
  t.same(await migrateDown(db), ['Down 0005_webhook_events'])
  t.same(await tables(db), ['limit_counters', 'login_codes', 'refresh_tokens', 'sessions', 'signing_keys', 'users'])
  t.same(await migrateDown(db), ['Down 0004_signing_keys'])
  t.same(await tables(db), ['limit_counters', 'login_codes', 'refresh_tokens', 'sessions', 'users'])
  t.same(await migrateDown(db), ['Down 0003_login_code_spent'])
  t.same(await migrateDown(db), ['Down 0002_invited_order'])
  t.same(await migrateDown(db), ['Down 0001_initial'])
  t.same(await tables(db), [])
  t.same(await migrateToLatest(db), ['Up 0001_initial', 'Up 0002_invited_order', 'Up 0003_login_code_spent', 'Up 0004_signing_keys', 'Up 0005_webhook_events', 'Up 0006_user_blocks', 'Up 0007_account_deletion', 'Up 0008_admin_audit', 'Up 0009_phone_changes', 'Up 0010_admin_audit_reads', 'Up 0012_fraud_rules', 'Up 0013_passkeys', 'Up 0014_messages', 'Up 0015_retention_indexes', 'Up 0016_passkey_sessions'])
  t.same(await tables(db), ['admin_audit', 'deleted_phones', 'fraud_rules', 'limit_counters', 'login_codes', 'messages', 'passkeys', 'phone_changes', 'refresh_tokens', 'sessions', 'signing_keys', 'users', 'webauthn_challenges', 'webhook_events'])
  t.same(await userColumns(db), ['blocked_at', 'blocked_reason', 'created_at', 'deleted_at', 'id', 'invite_code', 'invited_at', 'invited_by', 'phone'])
})

t.test('the schema holds the rules itself: unique phone and invite code, no self-invite', async t => {
  const db = createDatabase('sqlite::memory:')
  t.teardown(async () => { await db.destroy() })
  await migrateToLatest(db)
  await db.insertInto('users').values({ phone: '+79123456701', invite_code: 'AAAAAA', created_at: 1 }).execute()
  await t.rejects(db.insertInto('users').values({ phone: '+79123456701', invite_code: 'BBBBBB', created_at: 1 }).execute(), { code: 'SQLITE_CONSTRAINT_UNIQUE' })
  await t.rejects(db.insertInto('users').values({ phone: '+79123456702', invite_code: 'AAAAAA', created_at: 1 }).execute(), { code: 'SQLITE_CONSTRAINT_UNIQUE' })
  await t.rejects(db.updateTable('users').set({ invited_by: 1 }).where('id', '=', 1).execute(), { code: 'SQLITE_CONSTRAINT_CHECK' })
})

t.test('signing keys: one per generation, whichever instance inserts first', async t => {
  const db = createDatabase('sqlite::memory:')
  t.teardown(async () => { await db.destroy() })
  await migrateToLatest(db)
  const key = { kid: 'a', generation: 1, alg: 'ES256', public_jwk: '{}', private_key: 'x', created_at: 1, activates_at: 1, revoked_at: null } as const
  await db.insertInto('signing_keys').values(key).execute()
  await t.rejects(db.insertInto('signing_keys').values({ ...key, kid: 'b' }).execute(), { code: 'SQLITE_CONSTRAINT_UNIQUE' })
})

t.test('a file database is created with its folder, in WAL mode', async t => {
  const dir = t.testdir()
  const db = createDatabase(`sqlite:${dir}/nested/phonepass.db`)
  t.teardown(async () => { await db.destroy() })
  await migrateToLatest(db)
  const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db)
  t.equal(mode.rows[0]?.journal_mode, 'wal')
  const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(db)
  t.equal(fk.rows[0]?.foreign_keys, 1)
})
