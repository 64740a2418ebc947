import type { Compilable, CompiledQuery } from 'kysely'
import { directSqliteOf, type DbOrTransaction } from './database.js'

// kysely builds and compiles a query's SQL on every call; on the hot paths that costs more
// than SQLite takes to run it. The SQL of these queries depends only on the dialect, so it is
// compiled once per dialect and run again with new parameters. kysely stays the one place the
// SQL is written.
const compiledByDialect = new WeakMap<object, Map<string, CompiledQuery>>()

function sameParameters (compiled: readonly unknown[], given: readonly unknown[]): boolean {
  return compiled.length === given.length && compiled.every((value, i) => value === given[i])
}

/**
 * Runs the query `build` makes, compiled once per dialect under `name`. `build` must use
 * exactly `params`, in that order, as the query's parameters: the first compile checks it.
 *
 * On SQLite the compiled SQL runs as a cached better-sqlite3 statement, at once, not through
 * kysely's executor, whenever that is safe (DirectSqlite.mayRun): in the caller's own
 * transaction (it holds the one connection), or outside any transaction when nobody holds the
 * connection, so the statement cannot land inside another request's open transaction (it runs
 * synchronously: nothing comes in between the check and the statement). Otherwise it waits its
 * turn through kysely, as every query on PostgreSQL goes through kysely's pool.
 */
export async function runPrepared<Row, const Params extends readonly unknown[]> (
  db: DbOrTransaction,
  name: string,
  params: Params,
  build: (...params: Params) => Compilable<Row>
): Promise<Row[]> {
  const dialect = db.getExecutor().adapter.constructor
  let compiledByName = compiledByDialect.get(dialect)
  if (compiledByName === undefined) {
    compiledByName = new Map()
    compiledByDialect.set(dialect, compiledByName)
  }
  let compiled = compiledByName.get(name)
  if (compiled === undefined) {
    compiled = build(...params).compile()
    if (!sameParameters(compiled.parameters, params)) {
      throw new Error(`prepared query ${name}: its parameters are not the ones given, in order`)
    }
    compiledByName.set(name, compiled)
  }
  const direct = directSqliteOf(db)
  if (direct?.mayRun(db) === true) {
    const statement = direct.statement(compiled.sql)
    if (statement.reader) return statement.all(params) as Row[]
    statement.run(params)
    return []
  }
  const result = await db.executeQuery<Row>({ ...compiled, parameters: params })
  return result.rows
}
