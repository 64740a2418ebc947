import { sql } from 'kysely'
import type { DbOrTransaction } from './database.js'
import { runPrepared } from './prepared.js'

/** One counter: a key (what is counted, for whom) in one fixed time window. */
export interface CounterWindow {
  key: string
  windowStart: number
  /** When the window ends; the row may be deleted after it. */
  expiresAt: number
}

/**
 * Adds one to the counter and returns the new count, in one statement
 * (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), so parallel requests on any number of
 * instances never lose a count. With `ceiling`, the count never passes it: at the ceiling
 * nothing is added and undefined comes back (a refused request costs nothing).
 */
export async function incrementCounter (db: DbOrTransaction, window: CounterWindow, ceiling?: number): Promise<number | undefined> {
  const [count] = await incrementCounters(db, [window], ceiling === undefined ? undefined : [ceiling])
  return count
}

/**
 * incrementCounter for several counters, in one statement (a multi-row `INSERT … ON CONFLICT
 * DO UPDATE … RETURNING`, rows taken in the order given): the new counts in that order. With
 * `ceilings` (one per window), a counter at its ceiling is not counted and its count comes back
 * undefined: the counters of one request cost one statement. The windows' keys must differ.
 */
export async function incrementCounters (db: DbOrTransaction, windows: readonly CounterWindow[], ceilings?: readonly number[]): Promise<Array<number | undefined>> {
  if (ceilings !== undefined && ceilings.length !== windows.length) throw new Error('one ceiling per counter')
  const values = windows.flatMap(window => [window.key, window.windowStart, window.expiresAt])
  const params = ceilings === undefined ? values : [...values, ...windows.flatMap((window, i) => [window.key, ceilings[i]])]
  const rows = await runPrepared(db, `incrementCounters:${windows.length}${ceilings === undefined ? '' : ':below'}`, params, (...given) => {
    const at = (i: number) => given[i] as string & number
    const upsert = db.insertInto('limit_counters')
      .values(windows.map((_, row) => ({ key: at(3 * row), window_start: at(3 * row + 1), count: sql<number>`1`, expires_at: at(3 * row + 2) })))
    if (ceilings === undefined) {
      return upsert.onConflict(oc => oc.columns(['key', 'window_start']).doUpdateSet(eb => ({ count: eb('limit_counters.count', '+', sql<number>`1`) })))
        .returning(['key', 'count'])
    }
    // Each row's own ceiling, picked by its key (the cast: PostgreSQL would take the
    // parameters for text).
    const ceilingOfRow = sql<number>`case ${sql.ref('excluded.key')} ${sql.join(windows.map((_, row) => sql`when ${at(values.length + 2 * row)} then cast(${at(values.length + 2 * row + 1)} as integer)`), sql` `)} end`
    return upsert.onConflict(oc => oc.columns(['key', 'window_start'])
      .doUpdateSet(eb => ({ count: eb('limit_counters.count', '+', sql<number>`1`) }))
      .where('limit_counters.count', '<', ceilingOfRow))
      .returning(['key', 'count'])
  })
  const counts = new Map(rows.map(row => [row.key, row.count]))
  return windows.map(window => counts.get(window.key))
}

/**
 * Takes back one count of each counter (a request that was counted but turned out not to be
 * what is limited, or an SMS that failed), in one statement; none goes below 0.
 */
export async function decrementCounters (db: DbOrTransaction, windows: readonly CounterWindow[]): Promise<void> {
  if (windows.length === 0) return
  await runPrepared(db, `decrementCounters:${windows.length}`, windows.flatMap(window => [window.key, window.windowStart]), (...given) =>
    db.updateTable('limit_counters')
      .set(eb => ({ count: eb('count', '-', sql<number>`1`) }))
      .where(eb => eb(eb.refTuple('key', 'window_start'), 'in', windows.map((_, row) => eb.tuple(given[2 * row] as string, given[2 * row + 1] as number))))
      .where('count', '>', sql<number>`0`))
}

export async function readCounter (db: DbOrTransaction, window: CounterWindow): Promise<number> {
  const row = await db.selectFrom('limit_counters').select('count')
    .where('key', '=', window.key)
    .where('window_start', '=', window.windowStart)
    .executeTakeFirst()
  return row?.count ?? 0
}

/** Deletes the counters of windows that have ended; returns how many. */
export async function deleteExpiredCounters (db: DbOrTransaction, now: number): Promise<number> {
  const result = await db.deleteFrom('limit_counters').where('expires_at', '<=', now).executeTakeFirst()
  return Number(result.numDeletedRows)
}
