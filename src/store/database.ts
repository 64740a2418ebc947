import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import pg from 'pg'
import {
  CompiledQuery, Kysely, PostgresAdapter, PostgresDialect, SqliteDialect, SqliteDriver,
  type DatabaseConnection, type Driver, type SqliteDialectConfig, type Transaction
} from 'kysely'
import type { Database } from './schema.js'

export type Db = Kysely<Database>
/** Store functions take either, so the service decides which writes belong together. */
export type DbOrTransaction = Kysely<Database> | Transaction<Database>

export interface DatabaseOptions {
  /** How long a SQLite write waits for another process's lock before giving up (busy → 503). */
  sqliteBusyTimeoutMs?: number
  postgresPoolSize?: number
}

// Every write transaction takes SQLite's write lock at BEGIN, so a transaction that reads
// and then writes never fails half-way when another process wrote in between.
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction (connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig
  constructor (config: SqliteDialectConfig) {
    super(config)
    this.#config = config
  }

  override createDriver (): Driver {
    return new ImmediateSqliteDriver(this.#config)
  }
}

/**
 * kysely prepares every query anew; better-sqlite3 statements can be reused, so each SQL
 * text is prepared once. The set of SQL texts is fixed by the code, so the cache stays small.
 */
function withStatementCache (database: SqliteDatabase.Database): SqliteDialectConfig['database'] {
  const statements = new Map<string, SqliteDatabase.Statement>()
  return {
    close: () => database.close(),
    prepare: (sql: string) => {
      let statement = statements.get(sql)
      if (statement === undefined) {
        statement = database.prepare(sql)
        if (statements.size < 1000) statements.set(sql, statement)
      }
      return statement
    }
  }
}

export function openSqlite (file: string, options: DatabaseOptions = {}): SqliteDatabase.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const database = new SqliteDatabase(file, { timeout: options.sqliteBusyTimeoutMs ?? 2000 })
  database.pragma('journal_mode = WAL')
  // NORMAL in WAL: a process crash loses nothing; a power loss may lose the last commits.
  database.pragma('synchronous = NORMAL')
  database.pragma('foreign_keys = ON')
  return database
}

export function createDatabase (url: string, options: DatabaseOptions = {}): Db {
  if (url.startsWith('sqlite:')) {
    const database = openSqlite(url.slice('sqlite:'.length), options)
    return new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(database) }) })
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.postgresPoolSize ?? 10,
    // bigint (epoch-millisecond times, ids) comes back as a number, as on SQLite.
    types: { getTypeParser: (oid: number, format?: string) => oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text') }
  })
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
}

export function isPostgres (db: DbOrTransaction): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter
}

/** True for a unique-index violation on either database. */
export function isUniqueViolation (error: unknown): boolean {
  const code = (error as { code?: unknown }).code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505'
}

/** Errors that mean "the database cannot serve this now": the caller gets 503, not 500. */
export function isDatabaseUnavailable (error: unknown): boolean {
  const code = (error as { code?: unknown }).code
  if (typeof code !== 'string') return false
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === 'SQLITE_FULL' ||
    code === 'SQLITE_IOERR' || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_READONLY' ||
    code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === '57P01' ||
    code === '57P03' || code === '53300' || code.startsWith('08')
}
