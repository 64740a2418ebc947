import { type Kysely, PostgresAdapter, sql } from 'kysely'

// Frozen in time: imports nothing from src/. Times are epoch milliseconds (bigint), so both
// dialects compare and return them alike.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter

  await db.schema.createTable('users')
    .addColumn('id', postgres ? 'bigserial' : 'integer', col => postgres ? col.primaryKey() : col.primaryKey().autoIncrement())
    .addColumn('phone', 'varchar(16)', col => col.notNull().unique())
    .addColumn('invite_code', 'varchar(6)', col => col.notNull().unique())
    .addColumn('invited_by', 'bigint', col => col.references('users.id').onDelete('set null'))
    .addColumn('invited_at', 'bigint')
    .addColumn('created_at', 'bigint', col => col.notNull())
    .addCheckConstraint('users_not_self_invited', sql`invited_by is null or invited_by <> id`)
    .execute()
  await db.schema.createIndex('users_invited_by_idx').on('users').columns(['invited_by', 'id']).execute()

  await db.schema.createTable('login_codes')
    .addColumn('phone', 'varchar(16)', col => col.primaryKey())
    .addColumn('code_hash', 'varchar(64)', col => col.notNull())
    .addColumn('attempts', 'integer', col => col.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', col => col.notNull())
    .addColumn('expires_at', 'bigint', col => col.notNull())
    .addColumn('ip', 'varchar(64)')
    .execute()

  await db.schema.createTable('sessions')
    .addColumn('id', 'varchar(32)', col => col.primaryKey())
    .addColumn('user_id', 'bigint', col => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'varchar(8)', col => col.notNull().check(sql`kind in ('web', 'api')`))
    .addColumn('created_at', 'bigint', col => col.notNull())
    .addColumn('last_seen_at', 'bigint', col => col.notNull())
    .addColumn('expires_at', 'bigint', col => col.notNull())
    .addColumn('revoked_at', 'bigint')
    .addColumn('user_agent', 'varchar(256)')
    .addColumn('ip', 'varchar(64)')
    .execute()
  await db.schema.createIndex('sessions_user_id_idx').on('sessions').column('user_id').execute()

  await db.schema.createTable('refresh_tokens')
    .addColumn('token_hash', 'varchar(64)', col => col.primaryKey())
    .addColumn('session_id', 'varchar(32)', col => col.notNull().references('sessions.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', col => col.notNull())
    .addColumn('used_at', 'bigint')
    .execute()
  await db.schema.createIndex('refresh_tokens_session_id_idx').on('refresh_tokens').column('session_id').execute()

  await db.schema.createTable('limit_counters')
    .addColumn('key', 'varchar(128)', col => col.notNull())
    .addColumn('window_start', 'bigint', col => col.notNull())
    .addColumn('count', 'integer', col => col.notNull())
    .addColumn('expires_at', 'bigint', col => col.notNull())
    .addPrimaryKeyConstraint('limit_counters_pk', ['key', 'window_start'])
    .execute()
  await db.schema.createIndex('limit_counters_expires_at_idx').on('limit_counters').column('expires_at').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('limit_counters').execute()
  await db.schema.dropTable('refresh_tokens').execute()
  await db.schema.dropTable('sessions').execute()
  await db.schema.dropTable('login_codes').execute()
  await db.schema.dropTable('users').execute()
}
