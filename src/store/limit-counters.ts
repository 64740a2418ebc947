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
 * Rows a counter that every request writes is spread over. One row is locked from its update
 * to its transaction's commit, a WAL flush: however many instances, it takes one commit per
 * flush at a time (docs/SCALING.md measured it as the first thing to break). Stripe i of a
 * window is the row of the same key whose window_start is i ms later: a reader that sums the
 * window (readCounter, the fraud guard's figures) reads them all, and nothing else changes.
 */
export const maxStripes = 16

/** Stripe `index` of `window` (index below maxStripes). */
export function stripeOf (window: CounterWindow, index: number): CounterWindow {
  return { ...window, windowStart: window.windowStart + index }
}

/**
 * The stripes a counter with `ceiling` is spread over: as many as leave each a share of at least
 * `minShare`, at most `stripes`. A small ceiling stays one row (nothing to gain, and the test
 * settings' ceilings keep their exact one-row behaviour).
 */
export function stripesFor (ceiling: number, stripes: number, minShare = 50): number {
  return Math.max(1, Math.min(stripes, maxStripes, Math.floor(ceiling / minShare)))
}

/** Stripe `index`'s share of `ceiling` over `stripes`: the shares add up to the ceiling exactly. */
export function shareOf (ceiling: number, stripes: number, index: number): number {
  return Math.floor(ceiling / stripes) + (index < ceiling % stripes ? 1 : 0)
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

/** A counter with a ceiling that many requests share, spread over stripes (stripesFor). */
export interface SpreadCounter {
  window: CounterWindow
  ceiling: number
}

/**
 * Counts one on each counter, in one statement, on a stripe of each (the `turn`th, in turn): the
 * stripe counted, or undefined where the whole counter is at its ceiling. Each stripe holds its
 * share of the ceiling (shareOf), so the stripes never add up past it; a stripe at its share is
 * rolled back to a savepoint, releasing every row the statement locked, and the statement runs
 * again on the next stripe of each counter refused: a counter is refused only once every stripe
 * of it was found full. The statement must be the transaction's last to lock limit_counters
 * rows: every transaction then locks stripes last and releases them before it waits for another
 * stripe, so no two wait for each other.
 */
export async function takeSpreadCounters (db: DbOrTransaction, counters: readonly SpreadCounter[], turn: number): Promise<Array<CounterWindow | undefined>> {
  const stripes = counters.map(counter => stripesFor(counter.ceiling, maxStripes))
  const picks = stripes.map(count => turn % count)
  const fullFound = counters.map(() => 0)
  const spread = stripes.some(count => count > 1)
  for (;;) {
    const windows = counters.map((counter, i) => stripeOf(counter.window, picks[i] as number))
    const ceilings = counters.map((counter, i) => shareOf(counter.ceiling, stripes[i] as number, picks[i] as number))
    if (spread) await sql`savepoint spread_counters`.execute(db)
    const counts = await incrementCounters(db, windows, ceilings)
    const tryAgain = counts.some((count, i) => count === undefined && (fullFound[i] as number) + 1 < (stripes[i] as number))
    if (!tryAgain) return windows.map((window, i) => (counts[i] === undefined ? undefined : window))
    await sql`rollback to savepoint spread_counters`.execute(db)
    counts.forEach((count, i) => {
      if (count !== undefined) return
      fullFound[i] = (fullFound[i] as number) + 1
      picks[i] = ((picks[i] as number) + 1) % (stripes[i] as number)
    })
  }
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

/** The window's count: the sum of its stripes (a counter of one row is its own only stripe). */
export async function readCounter (db: DbOrTransaction, window: CounterWindow): Promise<number> {
  const row = await db.selectFrom('limit_counters').select(eb => eb.fn.sum<number>('count').as('count'))
    .where('key', '=', window.key)
    .where('window_start', '>=', window.windowStart)
    .where('window_start', '<', window.windowStart + maxStripes)
    .executeTakeFirst()
  return Number(row?.count ?? 0)
}
