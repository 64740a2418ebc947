import type { Kysely } from 'kysely'

// The invited list is read oldest first: an index in that order serves it without a sort,
// however many people one user invited.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('users_invited_by_order_idx').on('users').columns(['invited_by', 'invited_at', 'id']).execute()
  await db.schema.dropIndex('users_invited_by_idx').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('users_invited_by_idx').on('users').columns(['invited_by', 'id']).execute()
  await db.schema.dropIndex('users_invited_by_order_idx').execute()
}
