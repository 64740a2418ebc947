import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/. An operator may block an account (support stopping
// abuse): when, and the reason they gave, on the user's row.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('blocked_at', 'bigint').execute()
  await db.schema.alterTable('users').addColumn('blocked_reason', 'varchar(500)').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('blocked_reason').execute()
  await db.schema.alterTable('users').dropColumn('blocked_at').execute()
}
