import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import type pg from 'pg'
import {
  CompiledQuery, Kysely, PostgresAdapter, PostgresDialect, PostgresIntrospector, SqliteAdapter, SqliteDialect, SqliteDriver, sql,
  type DatabaseConnection, type DatabaseIntrospector, type DatabaseMetadata, type DialectAdapter, type Driver,
  type MigrationLockOptions, type SqliteDialectConfig, type SqliteStatement, type TableMetadata, type Transaction
} from 'kysely'
import type { Database } from './schema.js'
import { SqliteDatabase } from './sqlite-driver.js'
import { inSyncSpan } from '../ops/spans.js'

export type Db = Kysely<Database>
/** Store functions take either, so the service decides which writes belong together. */
export type DbOrTransaction = Kysely<Database> | Transaction<Database>

export interface DatabaseOptions {
  /**
   * How long a write waits for a lock another connection holds before giving up (→ 503):
   * SQLite's busy timeout (2 s when not given), PostgreSQL's lock_timeout (none when not given).
   */
  lockTimeoutMs?: number
  /** PostgreSQL's statement_timeout (none when not given): a statement running longer fails (→ 503). */
  postgresStatementTimeoutMs?: number
  /** Connections each instance keeps to PostgreSQL at most (all instances share max_connections). */
  postgresPoolSize?: number
  /** How long to wait for a PostgreSQL connection before answering 503. */
  postgresConnectTimeoutMs?: number
  /** The environment's PGSSLMODE, used when the URL names no sslmode. */
  pgSslMode?: string | undefined
}

/**
 * The one better-sqlite3 connection behind a SQLite database, for the statements the store
 * runs without kysely's executor (store/prepared.ts): kysely reaches the connection through a
 * promise-based mutex and several promise layers, which cost more than SQLite's own work on
 * the hot paths.
 */
export interface DirectSqlite {
  /** The statement for `sql`: prepared once, watched for locks as kysely's are (withStatementCache). */
  statement: (sql: string) => SqliteStatement
  /**
   * True when a statement of `db`'s, run now and synchronously, cannot land inside a
   * transaction it does not belong to: `db` is the transaction open on the connection (kysely's,
   * or readTogether's), or nobody holds the connection (kysely: a transaction, or a query on its
   * way; readTogether) and no transaction is open on it.
   */
  mayRun: (db: DbOrTransaction) => boolean
  /**
   * Runs `read` in a read transaction (readTogether). When nobody holds the connection, it is
   * claimed at once, without kysely's mutex, and `read` gets `reader` (the connection-bound
   * Kysely kept for this); meanwhile kysely's acquirers wait for the claim and direct
   * statements of others wait through kysely. Otherwise undefined: the caller holds the
   * connection through kysely first and calls `readHeld`.
   */
  readIfFree: <T>(reader: DbOrTransaction, read: (db: DbOrTransaction) => Promise<T>) => Promise<T> | undefined
  /** Runs `read` in a read transaction on the connection `holder` holds through kysely. */
  readHeld: <T>(holder: DbOrTransaction, read: (db: DbOrTransaction) => Promise<T>) => Promise<T>
  /** The connection-bound Kysely readIfFree hands to its reads, once made (readTogether makes it). */
  reader?: DbOrTransaction
}

/** What the driver and the direct statements share about the one connection. */
interface ConnectionState {
  /** Held through kysely: from acquireConnection to releaseConnection. */
  held: boolean
  /** Claimed by a read transaction without kysely (DirectSqlite.readIfFree): ends when it settles. */
  claim: Promise<void> | undefined
  /** Kysely acquirers waiting for a claim to end. */
  waiting: number
  /** A read transaction (readTogether) is open: a statement that writes is refused. */
  readOnly: boolean
}

// Every write transaction takes SQLite's write lock at BEGIN, so a transaction that reads
// and then writes never fails half-way when another process wrote in between.
class ImmediateSqliteDriver extends SqliteDriver {
  readonly #database: SqliteDatabase
  readonly #state: ConnectionState
  constructor (config: SqliteDialectConfig, database: SqliteDatabase, state: ConnectionState) {
    super(config)
    this.#database = database
    this.#state = state
  }

  override async acquireConnection (): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection()
    // A read transaction may have claimed the connection without kysely's mutex. While this
    // waits, no new claim is made (free() is false), so a stream of reads cannot starve it.
    this.#state.waiting++
    try {
      while (this.#state.claim !== undefined) await this.#state.claim
    } finally {
      this.#state.waiting--
    }
    this.#state.held = true
    return connection
  }

  override async releaseConnection (): Promise<void> {
    this.#state.held = false
    await super.releaseConnection()
  }

  override async beginTransaction (connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }

  // SQLite rolls a transaction back itself on some errors (SQLITE_FULL, SQLITE_IOERR, …); a
  // ROLLBACK then fails with "no transaction is active" and would hide the error that matters.
  override async rollbackTransaction (connection: DatabaseConnection): Promise<void> {
    if (this.#database.inTransaction) await super.rollbackTransaction(connection)
  }
}

/** SQLite's adapter, carrying the connection for direct statements (directSqliteOf). */
class DirectSqliteAdapter extends SqliteAdapter {
  constructor (readonly direct: DirectSqlite) {
    super()
  }
}

/** The direct side of the connection: which statements may run at once, and read transactions. */
function directSqlite (database: SqliteDatabase, statements: { prepare: (sql: string) => SqliteStatement }, state: ConnectionState): DirectSqlite {
  // The Kysely of the read transaction open, if any (one at a time: it holds the connection).
  const readers = new WeakSet<DbOrTransaction>()
  const free = (): boolean => !state.held && state.claim === undefined && state.waiting === 0 && !database.inTransaction && database.open

  async function readTransaction<T> (holder: DbOrTransaction, read: (db: DbOrTransaction) => Promise<T>): Promise<T> {
    statements.prepare('begin').run([])
    state.readOnly = true
    readers.add(holder)
    let ended = false
    try {
      const result = await read(holder)
      ended = true
      return result
    } finally {
      readers.delete(holder)
      state.readOnly = false
      if (database.inTransaction) statements.prepare(ended ? 'commit' : 'rollback').run([])
    }
  }

  return {
    statement: sql => statements.prepare(sql),
    mayRun: db => db.isTransaction || readers.has(db) ? database.inTransaction : free(),
    readIfFree: (reader, read) => {
      if (!free()) return undefined
      let release!: () => void
      state.claim = new Promise(resolve => { release = resolve })
      return readTransaction(reader, read).finally(() => {
        state.claim = undefined
        release()
      })
    },
    readHeld: readTransaction
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig
  readonly #database: SqliteDatabase
  readonly #state: ConnectionState
  readonly #direct: DirectSqlite
  constructor (database: SqliteDatabase, lockTimeoutMs: number) {
    const state: ConnectionState = { held: false, claim: undefined, waiting: 0, readOnly: false }
    const statements = withStatementCache(database, failFastWhileLocked(database, lockTimeoutMs), state)
    const config = { database: statements }
    super(config)
    this.#config = config
    this.#database = database
    this.#state = state
    this.#direct = directSqlite(database, statements, state)
  }

  override createDriver (): Driver {
    return new ImmediateSqliteDriver(this.#config, this.#database, this.#state)
  }

  override createAdapter (): DialectAdapter {
    return new DirectSqliteAdapter(this.#direct)
  }
}

/** The connection of a SQLite database, for direct statements; undefined on PostgreSQL. */
export function directSqliteOf (db: DbOrTransaction): DirectSqlite | undefined {
  const adapter = db.getExecutor().adapter
  return adapter instanceof DirectSqliteAdapter ? adapter.direct : undefined
}

/**
 * Runs `read`, whose statements only read, so that they see one state of the database. On
 * SQLite in one read transaction (`BEGIN`, not `BEGIN IMMEDIATE`: no write lock) on the
 * connection, held for it: one snapshot, and one read lock taken and dropped instead of one per
 * statement; a write in it is refused. When nobody holds the connection it is claimed at once
 * rather than through kysely's mutex, whose promise layers cost `me` more than the read
 * transaction saves. On PostgreSQL each statement runs on the pool as before: a transaction
 * would cost two more round trips.
 */
export async function readTogether<T> (db: Db, read: (db: DbOrTransaction) => Promise<T>): Promise<T> {
  const direct = directSqliteOf(db)
  if (direct === undefined) return await read(db)
  // A Kysely bound to the one connection, made once, through kysely; used only under a claim.
  direct.reader ??= await db.connection().execute(async (connection) => connection)
  return await (direct.readIfFree(direct.reader, read) ??
    db.connection().execute(async (connection) => await direct.readHeld(connection, read)))
}

type Watch = <T>(writes: boolean, call: () => T) => T

/**
 * better-sqlite3 waits for a lock another process holds inside the call, and so the whole
 * event loop waits: with the lock held past the busy timeout, each write in turn would stall
 * every request, reads and /healthz included, for the whole timeout (20 writes at 2 s: 40 s).
 * So once a write has waited the whole timeout in vain, the next ones do not wait: they fail
 * at once (503) until one gets the lock, and from then on writes wait again.
 */
function failFastWhileLocked (database: SqliteDatabase, lockTimeoutMs: number): Watch {
  let waiting = true
  return (writes, call) => {
    let result
    try {
      result = call()
    } catch (error) {
      if (waiting && (error as { code?: unknown }).code === 'SQLITE_BUSY') {
        waiting = false
        database.pragma('busy_timeout = 0')
      }
      throw error
    }
    if (writes && !waiting) {
      waiting = true
      database.pragma(`busy_timeout = ${lockTimeoutMs}`)
    }
    return result
  }
}

/**
 * kysely prepares every query anew; better-sqlite3 statements can be reused, so each SQL
 * text is prepared once. The set of SQL texts is fixed by the code, so the cache stays small.
 * The same statements serve kysely and the direct statements (store/prepared.ts).
 */
function withStatementCache (database: SqliteDatabase, watch: Watch, state: ConnectionState): SqliteDialectConfig['database'] & { prepare: (sql: string) => SqliteStatement } {
  const statements = new Map<string, SqliteStatement>()
  return {
    close: () => database.close(),
    prepare: (sql: string) => {
      let statement = statements.get(sql)
      if (statement === undefined) {
        const prepared = database.prepare(sql)
        // BEGIN IMMEDIATE writes nothing itself, but getting through it means holding the lock.
        const writes = !prepared.readonly || /^begin immediate/i.test(sql)
        // A span per statement when tracing is on: the SQL with its placeholders, never the values.
        const operation = /^\s*(\w+)/.exec(sql)?.[1]?.toLowerCase() ?? 'statement'
        const attributes = { 'db.system.name': 'sqlite', 'db.operation.name': operation, 'db.query.text': sql }
        const run = <T>(call: () => T): T => {
          if (writes && state.readOnly) throw new Error(`a write in a read transaction (readTogether): ${sql}`)
          return inSyncSpan(operation, attributes, () => watch(writes, call))
        }
        statement = {
          reader: prepared.reader,
          all: parameters => run(() => prepared.all(parameters)),
          run: parameters => run(() => prepared.run(parameters)),
          iterate: parameters => run(() => prepared.iterate(parameters))
        }
        if (statements.size < 1000) statements.set(sql, statement)
      }
      return statement
    }
  }
}

const sqliteLockTimeoutMs = 2000

export function openSqlite (file: string, options: DatabaseOptions = {}): SqliteDatabase {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const database = new SqliteDatabase(file, { timeout: options.lockTimeoutMs ?? sqliteLockTimeoutMs })
  database.pragma('journal_mode = WAL')
  // NORMAL in WAL: a process crash loses nothing; a power loss may lose the last commits.
  database.pragma('synchronous = NORMAL')
  database.pragma('foreign_keys = ON')
  return database
}

// libpq's sslmode words, as PaaS providers set them, mapped onto node-postgres's libpq-compatible
// parsing. node-postgres cannot fall back from one to the other, so `prefer` encrypts without
// checking the certificate (as `require` does) and `allow` does not encrypt.
const sslModes: Record<string, string> = {
  disable: 'disable',
  allow: 'disable',
  prefer: 'require',
  require: 'require',
  'no-verify': 'require',
  'verify-ca': 'verify-ca',
  'verify-full': 'verify-full'
}

/**
 * The connection string node-postgres is given: `?sslmode=` in the URL, or else PGSSLMODE, with
 * libpq's meaning (`require` encrypts without verifying, `verify-full` verifies the certificate
 * and the host name), not node-postgres's older one where `require` also verified.
 */
export function postgresConnectionString (url: string, pgSslMode?: string): string {
  // The URL parser's own error carries the whole URL, password and all.
  if (!URL.canParse(url)) throw new Error('the PostgreSQL URL is not a valid URL (not shown: it may hold a password)')
  const parsed = new URL(url)
  const requested = parsed.searchParams.get('sslmode') ?? (pgSslMode === '' ? undefined : pgSslMode)
  if (requested === undefined || requested === null) return url
  const mode = sslModes[requested]
  if (mode === undefined) throw new Error(`unknown sslmode ${JSON.stringify(requested)}: use one of ${Object.keys(sslModes).join(', ')}`)
  parsed.searchParams.set('sslmode', mode)
  if (!parsed.searchParams.has('uselibpqcompat')) parsed.searchParams.set('uselibpqcompat', 'true')
  return parsed.toString()
}

/**
 * kysely's PostgreSQL introspector reads every table of every schema in the database and asks
 * each for its serial sequence, which fails when another schema's tables are dropped at that
 * moment (another service, another test file). Its one user here is the migrator, asking
 * whether its own tables exist: this introspector answers from the current schema alone
 * (names only, no columns), which also keeps the migrator from taking another schema's
 * migration table for its own.
 */
class CurrentSchemaIntrospector implements DatabaseIntrospector {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly #db: Kysely<any>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor (db: Kysely<any>) {
    this.#db = db
  }

  async getSchemas (): Promise<Array<{ name: string }>> {
    return await new PostgresIntrospector(this.#db).getSchemas()
  }

  async getTables (): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string, schema: string, kind: string }>`
      select c.relname as name, n.nspname as schema, c.relkind as kind
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'v', 'p')`.execute(this.#db)
    return rows.map(row => ({ name: row.name, schema: row.schema, isView: row.kind === 'v', columns: [] }))
  }

  async getMetadata (): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() }
  }
}

/**
 * Migrations run on the app's pool at start-up, but are exempt from its lock and statement
 * timeouts: a migration may wait for a busy table and may take long (an index on a big table).
 * kysely holds its migration lock on one connection for the whole run; these settings last
 * as long as the lock and are reset to the connection's defaults with it.
 */
class PostgresAdapterWithMigrationTimeouts extends PostgresAdapter {
  override async acquireMigrationLock (db: Kysely<unknown>, options: MigrationLockOptions): Promise<void> {
    await super.acquireMigrationLock(db, options)
    await sql`set lock_timeout = 0`.execute(db)
    await sql`set statement_timeout = 0`.execute(db)
  }

  override async releaseMigrationLock (db: Kysely<unknown>, options: MigrationLockOptions): Promise<void> {
    await sql`reset lock_timeout`.execute(db)
    await sql`reset statement_timeout`.execute(db)
    await super.releaseMigrationLock(db, options)
  }
}

class CurrentSchemaPostgresDialect extends PostgresDialect {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override createIntrospector (db: Kysely<any>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db)
  }

  override createAdapter (): DialectAdapter {
    return new PostgresAdapterWithMigrationTimeouts()
  }
}

// The PostgreSQL driver is loaded only for a PostgreSQL URL: on SQLite it would be ~4 MB of
// memory for nothing (docs/OPERATIONS.md, "Memory").
const require = createRequire(import.meta.url)

function createPostgresPool (url: string, options: DatabaseOptions): pg.Pool {
  const pg = require('pg') as typeof import('pg')
  const pool = new pg.Pool({
    connectionString: postgresConnectionString(url, options.pgSslMode),
    max: options.postgresPoolSize ?? 10,
    // A database that does not answer must give 503 soon, not hold the request forever.
    connectionTimeoutMillis: options.postgresConnectTimeoutMs ?? 5000,
    // A row or advisory lock held elsewhere, or a statement that runs away, must end in 503
    // too: PostgreSQL waits for a lock for ever by default. Sent as start-up parameters, so
    // every connection has them from its first statement (PgBouncer: docs/OPERATIONS.md).
    lock_timeout: options.lockTimeoutMs,
    statement_timeout: options.postgresStatementTimeoutMs,
    // bigint (epoch-millisecond times, ids) comes back as a number, as on SQLite.
    types: { getTypeParser: (oid: number, format?: string) => oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text') }
  })
  // A connection the server drops (restart, failover, pg_terminate_backend) emits 'error':
  // from an idle one on the pool, from one in use (a transaction between two statements) on
  // the client. Unheard, either would end the process; heard, pg drops the connection and
  // the next statement on it fails with "not queryable", which isDatabaseUnavailable maps to 503.
  pool.on('error', () => {})
  pool.on('connect', client => { client.on('error', () => {}) })
  return pool
}

export function createDatabase (url: string, options: DatabaseOptions = {}): Db {
  if (url.startsWith('sqlite:')) {
    const database = openSqlite(url.slice('sqlite:'.length), options)
    return new Kysely<Database>({ dialect: new ImmediateSqliteDialect(database, options.lockTimeoutMs ?? sqliteLockTimeoutMs) })
  }
  return new Kysely<Database>({ dialect: new CurrentSchemaPostgresDialect({ pool: createPostgresPool(url, options) }) })
}

export function isPostgres (db: DbOrTransaction): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter
}

// node-postgres reports a lost or refused connection with these messages and no code.
const pgConnectionMessages = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Query read timeout)/

/** Errors that mean "the database cannot serve this now": the caller gets 503, not 500. */
export function isDatabaseUnavailable (error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code !== 'string') return pgConnectionMessages.test(error.message)
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === 'SQLITE_FULL' ||
    code === 'SQLITE_IOERR' || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_READONLY' ||
    // The network: refused, reset, unreachable, a host name that does not resolve (yet).
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code) ||
    // PostgreSQL: connection exceptions (08), shutting down or starting (57P01-57P03),
    // insufficient resources (53: a full disk, out of memory, too many connections), a
    // cancelled statement or statement_timeout (57014), lock_timeout (55P03), a deadlock or a
    // serialization failure (40P01, 40001): each passes, so the client is told to retry.
    code.startsWith('08') || code.startsWith('53') || ['57P01', '57P02', '57P03', '57014', '55P03', '40P01', '40001'].includes(code)
}
