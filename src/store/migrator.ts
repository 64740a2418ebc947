import { Migrator, type MigrationResultSet } from 'kysely'
import { migrations } from '../../migrations/index.js'
import type { Db } from './database.js'

function createMigrator (db: Db): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } })
}

function unwrap ({ error, results }: MigrationResultSet): string[] {
  if (error !== undefined) throw error
  return (results ?? []).map(result => `${result.direction} ${result.migrationName}`)
}

/** Runs under kysely's migration lock, so instances starting together migrate once. */
export async function migrateToLatest (db: Db): Promise<string[]> {
  return unwrap(await createMigrator(db).migrateToLatest())
}

export async function migrateDown (db: Db): Promise<string[]> {
  return unwrap(await createMigrator(db).migrateDown())
}
