import type { Kysely } from 'kysely'

// Frozen in time: imports nothing from src/. An operator's word on a destination of codes (a
// number prefix such as `p:+44791112`, or a country such as `c:GB`): `allow` keeps the fraud
// guard from holding it back, `block` refuses new numbers there. What the guard counts lives in
// limit_counters; this table holds only what a person decided, with who and when.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('fraud_rules')
    .addColumn('destination', 'varchar(40)', col => col.primaryKey())
    .addColumn('verdict', 'varchar(10)', col => col.notNull())
    .addColumn('reason', 'varchar(500)', col => col.notNull())
    .addColumn('set_by', 'varchar(64)', col => col.notNull())
    .addColumn('set_at', 'bigint', col => col.notNull())
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('fraud_rules').execute()
}
