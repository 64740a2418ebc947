import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/. A change of number proven by a code sent to the
// account's current number: one row per account, naming the new number it may move to until
// expires_at. The move spends it; a new proof replaces it. Without it, an access token alone
// (15 minutes) could move an account to the holder's own number for good.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('phone_changes')
    .addColumn('user_id', 'bigint', col => col.primaryKey().references('users.id').onDelete('cascade'))
    // E.164: the number the current one's code was given for.
    .addColumn('phone', 'varchar(32)', col => col.notNull())
    .addColumn('proven_at', 'bigint', col => col.notNull())
    .addColumn('expires_at', 'bigint', col => col.notNull())
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('phone_changes').execute()
}
