import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/. Admin reads are audited too (issue 22), and each
// entry keeps the server's own id of the request beside the one the caller may have sent
// (X-Request-Id), which anyone can choose.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('admin_audit').addColumn('server_request_id', 'varchar(64)').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('admin_audit').dropColumn('server_request_id').execute()
}
