import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/. Which passkey signed a session in or proved it
// (an admin's second factor), so that removing the passkey ends those sessions: a passkey
// someone else added, taken out by the owner, takes its sessions with it.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('passkey_id', 'varchar(1400)').execute()
  await db.schema.createIndex('sessions_passkey_id_idx').on('sessions').column('passkey_id').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('sessions_passkey_id_idx').execute()
  await db.schema.alterTable('sessions').dropColumn('passkey_id').execute()
}
