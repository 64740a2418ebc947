import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/. A person may delete their account. The users row
// stays as a tombstone (phone replaced, deleted_at set) so its invite code stays reserved and on
// the profiles of those who joined with it. A keyed hash of the deleted phone is kept: when it
// had activated a code, so its next account cannot activate another (for good); and when, so
// the old account's device tokens give the next account nothing (until they have expired).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('deleted_at', 'bigint').execute()
  await db.schema.createTable('deleted_phones')
    .addColumn('phone_hash', 'varchar(64)', col => col.primaryKey())
    .addColumn('deleted_at', 'bigint', col => col.notNull())
    .addColumn('had_activated', 'integer', col => col.notNull().defaultTo(0))
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('deleted_phones').execute()
  // Tombstones have no phone to give back: they go (their invitees' invited_by is set null).
  await db.deleteFrom('users').where('deleted_at', 'is not', null).execute()
  await db.schema.alterTable('users').dropColumn('deleted_at').execute()
}
