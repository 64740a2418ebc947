import { Migrator, sql, type MigrationResultSet } from 'kysely'
import { migrations } from '../../migrations/index.js'
import { isPostgres, type Db } from './database.js'

/**
 * On PostgreSQL the migrator is told the schema it works in (the first on the search_path):
 * kysely otherwise takes a migration table in any schema of the database for its own, and
 * two services (or two test files) sharing a database in separate schemas would trip on it.
 */
async function createMigrator (db: Db): Promise<Migrator> {
  let migrationTableSchema: string | undefined
  if (isPostgres(db)) {
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
    migrationTableSchema = rows[0]?.schema
  }
  return new Migrator({ db, provider: { getMigrations: async () => migrations }, migrationTableSchema })
}

function unwrap ({ error, results }: MigrationResultSet): string[] {
  if (error !== undefined) throw error
  return (results ?? []).map(result => `${result.direction} ${result.migrationName}`)
}

/** Runs under kysely's migration lock, so instances starting together migrate once. */
export async function migrateToLatest (db: Db): Promise<string[]> {
  return unwrap(await (await createMigrator(db)).migrateToLatest())
}

export async function migrateDown (db: Db): Promise<string[]> {
  return unwrap(await (await createMigrator(db)).migrateDown())
}
