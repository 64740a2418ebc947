import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/. Each message a code went out in (by SMS, WhatsApp
// or a call), and what the provider's receipts said of it (issue 25). No phone and no code:
// a message names the send it belongs to (send_id, also on login_codes while that code is the
// phone's), its channel, provider, the provider's own id and the number's country.
// login_codes.undelivered_by: the channel a receipt said failed to bring the current code,
// which lets the next code go at once by another channel.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('messages')
    .addColumn('id', 'varchar(32)', col => col.primaryKey())
    .addColumn('send_id', 'varchar(32)', col => col.notNull())
    .addColumn('channel', 'varchar(10)', col => col.notNull())
    .addColumn('provider', 'varchar(20)', col => col.notNull())
    .addColumn('provider_id', 'varchar(128)')
    .addColumn('country', 'varchar(8)', col => col.notNull())
    .addColumn('status', 'varchar(12)', col => col.notNull())
    .addColumn('created_at', 'bigint', col => col.notNull())
    .addColumn('updated_at', 'bigint', col => col.notNull())
    .addColumn('delivered_at', 'bigint')
    .execute()
  // A receipt finds its message by the provider's id; NULLs (a failed send) never collide.
  await db.schema.createIndex('messages_provider_id').on('messages').columns(['provider', 'provider_id']).unique().execute()
  await db.schema.createIndex('messages_created_at').on('messages').column('created_at').execute()
  await db.schema.alterTable('login_codes').addColumn('send_id', 'varchar(32)').execute()
  await db.schema.alterTable('login_codes').addColumn('undelivered_by', 'varchar(10)').execute()
  await db.schema.createIndex('login_codes_send_id').on('login_codes').column('send_id').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('login_codes_send_id').execute()
  await db.schema.alterTable('login_codes').dropColumn('undelivered_by').execute()
  await db.schema.alterTable('login_codes').dropColumn('send_id').execute()
  await db.schema.dropTable('messages').execute()
}
