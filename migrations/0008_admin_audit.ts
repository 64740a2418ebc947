import { type Kysely, PostgresAdapter } from 'kysely'

// Frozen in time: imports nothing from src/. The audit log of admin actions (the admin API,
// the admin pages and the operator CLI): who, what, to whom, when and from where. No foreign
// key to users, and the target's phone kept as text: an entry outlives the account it is about
// (a deletion is itself an entry), and nothing deletes entries.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter

  await db.schema.createTable('admin_audit')
    .addColumn('id', postgres ? 'bigserial' : 'integer', col => postgres ? col.primaryKey() : col.primaryKey().autoIncrement())
    .addColumn('at', 'bigint', col => col.notNull())
    // 'key' (an admin API key, by its name), 'phone' (an admin signed in to the pages), 'cli'.
    .addColumn('actor_kind', 'varchar(10)', col => col.notNull())
    .addColumn('actor', 'varchar(64)', col => col.notNull())
    .addColumn('action', 'varchar(40)', col => col.notNull())
    .addColumn('target_user_id', 'bigint')
    // E.164 at the time of the action: after a deletion the users row no longer has it.
    .addColumn('target_phone', 'varchar(32)')
    // JSON: the reason given, whether anything changed, how many sessions ended, ...
    .addColumn('details', 'text', col => col.notNull())
    .addColumn('ip', 'varchar(64)')
    .addColumn('request_id', 'varchar(64)')
    .execute()
  await db.schema.createIndex('admin_audit_user_idx').on('admin_audit').columns(['target_user_id', 'id']).execute()
  await db.schema.createIndex('admin_audit_phone_idx').on('admin_audit').columns(['target_phone', 'id']).execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('admin_audit').execute()
}
