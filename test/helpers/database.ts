import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tap from 'tap'
import pg from 'pg'
import { createDatabase, type Db } from '../../src/store/database.js'
import { migrateToLatest } from '../../src/store/migrator.js'

/**
 * Which database this test run uses. `npm test` runs the suite twice: on SQLite (in memory),
 * then with PHONEPASS_TEST_DB=postgres on the server TEST_DATABASE_URL points at, where every
 * app gets a schema of its own (dropped at teardown), so test files run in parallel.
 */
export const testDatabaseKind: 'sqlite' | 'postgres' = process.env.PHONEPASS_TEST_DB === 'postgres' ? 'postgres' : 'sqlite'

const postgresUrl = process.env.TEST_DATABASE_URL === '' ? undefined : process.env.TEST_DATABASE_URL

let skipped: string | undefined

/**
 * Reports every test of this file as skipped, by its name, with the reason. Must run before
 * the file declares its tests: import this helper (or app.ts) at the top, not inside a test.
 */
function skipEveryTest (reason: string): void {
  skipped = reason
  // tap asks its root test whether to skip each child; answering here marks each one
  // `# SKIP <reason>` under its own name, so the report shows what did not run.
  const root = tap as unknown as { shouldSkipChild: (extra: { skip?: string | boolean }) => boolean, before: (fn: () => unknown) => void }
  root.shouldSkipChild = extra => { extra.skip = reason; return true }
  // A file's `before` sets up for its tests (an app, a browser): with none to run, it does not run either.
  root.before = () => {}
}

function requirePostgresUrl (): void {
  if (postgresUrl !== undefined) return
  // CI sets this, so a PostgreSQL pass that would skip fails instead.
  if (process.env.PHONEPASS_TEST_REQUIRE_POSTGRES === '1') {
    throw new Error('PHONEPASS_TEST_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set')
  }
  skipEveryTest('PostgreSQL pass: TEST_DATABASE_URL is not set')
}

if (testDatabaseKind === 'postgres') requirePostgresUrl()

/**
 * For files that test PostgreSQL itself (several instances, outages, SSL): they run in the
 * PostgreSQL pass and are reported skipped, by name, in the SQLite pass. True when they run,
 * so a file's `before` can do nothing otherwise.
 */
export function postgresOnly (): boolean {
  if (testDatabaseKind === 'sqlite') skipEveryTest('PostgreSQL only: runs in the PostgreSQL pass (npm run test:postgres)')
  return testDatabaseKind === 'postgres' && postgresUrl !== undefined
}

/** The server's URL; only called where the PostgreSQL pass has made sure it is set. */
export function serverUrl (): string {
  if (postgresUrl === undefined) {
    throw new Error(`TEST_DATABASE_URL is not set${skipped === undefined ? '' : ` (${skipped}: a test that still runs imported the test helpers too late)`}`)
  }
  return postgresUrl
}

let adminPool: pg.Pool | undefined

/** One small pool per test process for creating and dropping schemas; it lets the process exit. */
export async function adminQuery (text: string): Promise<pg.QueryResult> {
  adminPool ??= new pg.Pool({ connectionString: serverUrl(), max: 2, allowExitOnIdle: true })
  return await adminPool.query(text)
}

export interface TestDatabase {
  /** sqlite::memory:, or the server's URL with the schema first on the search_path. */
  url: string
  /** PostgreSQL: the schema's name. */
  schema?: string
  /** Drops the schema; call after every connection to it is closed. */
  drop: () => Promise<void>
}

/** A URL of the same server whose connections work in `schema` (libpq's `options`). */
export function schemaUrl (schema: string): string {
  const url = new URL(serverUrl())
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

export async function createSchema (): Promise<{ schema: string, drop: () => Promise<void> }> {
  const schema = `pp_test_${process.pid}_${randomBytes(4).toString('hex')}`
  await adminQuery(`create schema ${schema}`)
  return { schema, drop: async () => { await adminQuery(`drop schema if exists ${schema} cascade`) } }
}

/** A SQLite file in a temporary folder, whichever the pass; `drop` removes the folder. */
export function temporarySqlite (): TestDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'phonepass-test-'))
  return { url: `sqlite:${join(dir, 'phonepass.db')}`, drop: async () => { rmSync(dir, { recursive: true, force: true }) } }
}

/** A SQLite file of the test's own, removed when it ends: its path and its DATABASE_URL. */
export function temporarySqliteFor (t: { teardown: (fn: () => unknown) => void }): { file: string, url: string } {
  const database = temporarySqlite()
  t.teardown(database.drop)
  return { file: database.url.slice('sqlite:'.length), url: database.url }
}

/**
 * A fresh, empty database for one app: SQLite in memory, or a new PostgreSQL schema.
 * `shared`: SQLite in a temporary file instead, for more than one connection or process.
 */
export async function openTestDatabase (options: { shared?: boolean } = {}): Promise<TestDatabase> {
  if (testDatabaseKind === 'sqlite' && options.shared === true) return temporarySqlite()
  if (testDatabaseKind === 'sqlite') return { url: 'sqlite::memory:', drop: async () => {} }
  const { schema, drop } = await createSchema()
  return { url: schemaUrl(schema), schema, drop }
}

/** This pass's database (SQLite in memory, or a PostgreSQL schema of its own), migrated; closed and dropped with the test. */
export async function openMigratedDb (t: { teardown: (fn: () => unknown) => void }): Promise<Db> {
  const database = await openTestDatabase()
  const db = createDatabase(database.url, { postgresPoolSize: 10 })
  t.teardown(async () => {
    await db.destroy()
    await database.drop()
  })
  await migrateToLatest(db)
  return db
}
