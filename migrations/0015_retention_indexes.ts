import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/. Retention (issue 27) deletes ended sessions (with
// their refresh tokens) and long-expired login codes in small batches, by their end: indexed
// here, so a batch reads only the rows it deletes however large the tables grow.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('sessions_expires_at_idx').on('sessions').column('expires_at').execute()
  await db.schema.createIndex('sessions_revoked_at_idx').on('sessions').column('revoked_at').execute()
  await db.schema.createIndex('login_codes_expires_at_idx').on('login_codes').column('expires_at').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('login_codes_expires_at_idx').execute()
  await db.schema.dropIndex('sessions_revoked_at_idx').execute()
  await db.schema.dropIndex('sessions_expires_at_idx').execute()
}
