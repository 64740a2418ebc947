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
  const insert = (key: string, windowStart: number, expiresAt: number) => db.insertInto('limit_counters')
    .values({ key, window_start: windowStart, count: sql<number>`1`, expires_at: expiresAt })
  const [row] = ceiling === undefined
    ? await runPrepared(db, 'incrementCounter', [window.key, window.windowStart, window.expiresAt], (key, windowStart, expiresAt) =>
      insert(key, windowStart, expiresAt)
        .onConflict(oc => oc.columns(['key', 'window_start']).doUpdateSet(eb => ({ count: eb('limit_counters.count', '+', sql<number>`1`) })))
        .returning('count'))
    : await runPrepared(db, 'incrementCounterBelow', [window.key, window.windowStart, window.expiresAt, ceiling], (key, windowStart, expiresAt, below) =>
      insert(key, windowStart, expiresAt)
        .onConflict(oc => oc.columns(['key', 'window_start'])
          .doUpdateSet(eb => ({ count: eb('limit_counters.count', '+', sql<number>`1`) }))
          .where('limit_counters.count', '<', below))
        .returning('count'))
  return row?.count
}

/** Takes back one count (a request that was counted but turned out not to be what is limited). */
export async function decrementCounter (db: DbOrTransaction, window: CounterWindow): Promise<void> {
  await runPrepared(db, 'decrementCounter', [window.key, window.windowStart], (key, windowStart) =>
    db.updateTable('limit_counters')
      .set(eb => ({ count: eb('count', '-', sql<number>`1`) }))
      .where('key', '=', key)
      .where('window_start', '=', windowStart)
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
