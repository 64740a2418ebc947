import { ConfigError, loadConfig } from '../config.js'
import { createDatabase } from '../store/database.js'
import { migrateToLatest } from '../store/migrator.js'

/** `npm run migrate`: applies pending migrations to DATABASE_URL and says which. */
try {
  const config = loadConfig()
  const db = createDatabase(config.databaseUrl, { postgresPoolSize: 1, pgSslMode: config.pgSslMode })
  try {
    const applied = await migrateToLatest(db)
    process.stdout.write(applied.length === 0 ? 'database is up to date\n' : applied.map(line => line + '\n').join(''))
  } finally {
    await db.destroy()
  }
} catch (error) {
  process.stderr.write((error instanceof ConfigError ? error.message : `migration failed: ${String(error)}`) + '\n')
  process.exitCode = 1
}
