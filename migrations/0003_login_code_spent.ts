import type { Kysely } from 'kysely'

// A code used to sign in is marked spent instead of deleted, so its row keeps the time it was
// sent: the 60 s between codes to one phone then holds across a sign-in too.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('login_codes').addColumn('spent_at', 'bigint').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.deleteFrom('login_codes').where('spent_at', 'is not', null).execute()
  await db.schema.alterTable('login_codes').dropColumn('spent_at').execute()
}
