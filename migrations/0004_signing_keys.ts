import type { Kysely } from 'kysely'

// Keys that sign access tokens, shared by every instance. `generation` is unique: creating the
// first key, or the next one, is an insert that only one instance can win. The private key is
// encrypted (AES-256-GCM under a key derived from PHONEPASS_SECRET); HS256 rows hold no key at
// all (it is derived from the secret) and mark when HS256 signed.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('signing_keys')
    .addColumn('kid', 'varchar(64)', col => col.primaryKey())
    .addColumn('generation', 'integer', col => col.notNull().unique())
    .addColumn('alg', 'varchar(8)', col => col.notNull())
    .addColumn('public_jwk', 'text')
    .addColumn('private_key', 'text')
    .addColumn('created_at', 'bigint', col => col.notNull())
    .addColumn('activates_at', 'bigint', col => col.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('signing_keys').execute()
}
