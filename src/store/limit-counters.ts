import type { DbOrTransaction } from './database.js'

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
  const row = await db.insertInto('limit_counters')
    .values({ key: window.key, window_start: window.windowStart, count: 1, expires_at: window.expiresAt })
    .onConflict(oc => {
      const update = oc.columns(['key', 'window_start'])
        .doUpdateSet(eb => ({ count: eb('limit_counters.count', '+', 1) }))
      return ceiling === undefined ? update : update.where('limit_counters.count', '<', ceiling)
    })
    .returning('count')
    .executeTakeFirst()
  return row?.count
}

/** Takes back one count (a request that was counted but turned out not to be what is limited). */
export async function decrementCounter (db: DbOrTransaction, window: CounterWindow): Promise<void> {
  await db.updateTable('limit_counters')
    .set(eb => ({ count: eb('count', '-', 1) }))
    .where('key', '=', window.key)
    .where('window_start', '=', window.windowStart)
    .where('count', '>', 0)
    .execute()
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
