import { type Kysely, PostgresAdapter } from 'kysely'

// Frozen in time: imports nothing from src/. The outbox of webhook events: a row is written in
// the transaction of the change it reports and sent later, outside requests.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter

  await db.schema.createTable('webhook_events')
    .addColumn('id', postgres ? 'bigserial' : 'integer', col => postgres ? col.primaryKey() : col.primaryKey().autoIncrement())
    // webhook-id: the same on every attempt, so receivers can drop a repeat.
    .addColumn('msg_id', 'varchar(40)', col => col.notNull().unique())
    .addColumn('type', 'varchar(40)', col => col.notNull())
    // Whose event: a user's events are sent in order. No foreign key: user.deleted outlives the user.
    .addColumn('user_id', 'bigint')
    // The body as sent, byte for byte, so every attempt signs the same text.
    .addColumn('payload', 'text', col => col.notNull())
    .addColumn('status', 'varchar(10)', col => col.notNull())
    .addColumn('attempts', 'integer', col => col.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', col => col.notNull())
    .addColumn('lease_until', 'bigint')
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'varchar(300)')
    .addColumn('created_at', 'bigint', col => col.notNull())
    .addColumn('finished_at', 'bigint')
    .execute()
  await db.schema.createIndex('webhook_events_due_idx').on('webhook_events').columns(['status', 'next_attempt_at']).execute()
  await db.schema.createIndex('webhook_events_user_idx').on('webhook_events').columns(['user_id', 'id']).execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_events').execute()
}
