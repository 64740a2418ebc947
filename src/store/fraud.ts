import { sql } from 'kysely'
import type { DbOrTransaction } from './database.js'
import { runPrepared } from './prepared.js'
import type { FraudRuleRow, FraudVerdict } from './schema.js'

/** One counter's figures over the guard's windows (limit_counters rows of one key). */
export interface CounterFigures {
  /** Counted in windows that start at or after `recentFrom`. */
  recent: number
  /** Counted in windows that start before `pastUntil` (the baseline). */
  past: number
  /** How many windows before `pastUntil` have a count: how much baseline there is. */
  pastWindows: number
  /** The latest end of a window still open (a cooling-off period's end). */
  openUntil: number | undefined
}

/**
 * The figures of several counters in one indexed read (limit_counters' key is (key,
 * window_start)): the sum of the recent windows, the sum and number of the past ones, and the
 * latest end of a window still open. Keys with no row are absent from the map.
 */
export async function readCounterFigures (db: DbOrTransaction, keys: readonly string[], since: number, recentFrom: number, pastUntil: number, now: number): Promise<Map<string, CounterFigures>> {
  if (keys.length === 0) return new Map()
  // On every send of a new number: compiled once (per number of keys), as the other hot queries.
  const rows = await runPrepared(db, `readCounterFigures:${keys.length}`, [recentFrom, pastUntil, pastUntil, now, ...keys, since], (...given) => {
    const [recent, past, pastCount, at] = given as unknown as [number, number, number, number]
    const wanted = given.slice(4, 4 + keys.length) as string[]
    const from = given[4 + keys.length] as number
    return db.selectFrom('limit_counters')
      .select(eb => [
        'key',
        sql<number>`sum(case when ${eb.ref('window_start')} >= ${recent} then ${eb.ref('count')} else 0 end)`.as('recent'),
        sql<number>`sum(case when ${eb.ref('window_start')} < ${past} then ${eb.ref('count')} else 0 end)`.as('past'),
        // Windows, not rows: a window's count may be spread over rows a few ms apart (limit-counters.ts, stripeOf).
        sql<number>`count(distinct case when ${eb.ref('window_start')} < ${pastCount} then ${eb.ref('window_start')} / 1000 end)`.as('past_windows'),
        sql<number | null>`max(case when ${eb.ref('expires_at')} > ${at} then ${eb.ref('expires_at')} end)`.as('open_until')
      ])
      .where('key', 'in', wanted)
      .where('window_start', '>=', from)
      .groupBy('key')
  })
  return new Map(rows.map(row => [row.key, {
    recent: Number(row.recent),
    past: Number(row.past),
    pastWindows: Number(row.past_windows),
    openUntil: row.open_until === null ? undefined : Number(row.open_until)
  }]))
}

export async function findFraudRules (db: DbOrTransaction, destinations: readonly string[]): Promise<FraudRuleRow[]> {
  if (destinations.length === 0) return []
  return await runPrepared(db, `findFraudRules:${destinations.length}`, destinations, (...given) =>
    db.selectFrom('fraud_rules').selectAll().where('destination', 'in', given as string[]))
}

export async function listFraudRules (db: DbOrTransaction): Promise<FraudRuleRow[]> {
  return await db.selectFrom('fraud_rules').selectAll().orderBy('set_at', 'desc').execute()
}

/** Sets an operator's verdict on a destination (replacing the last); the previous one, if any, comes back. */
export async function setFraudRule (db: DbOrTransaction, rule: { destination: string, verdict: FraudVerdict, reason: string, setBy: string, setAt: number }): Promise<void> {
  await db.insertInto('fraud_rules')
    .values({ destination: rule.destination, verdict: rule.verdict, reason: rule.reason, set_by: rule.setBy, set_at: rule.setAt })
    .onConflict(oc => oc.column('destination').doUpdateSet({ verdict: rule.verdict, reason: rule.reason, set_by: rule.setBy, set_at: rule.setAt }))
    .execute()
}

/** Removes an operator's verdict: the guard decides alone again. True when there was one. */
export async function deleteFraudRule (db: DbOrTransaction, destination: string): Promise<boolean> {
  const rows = await db.deleteFrom('fraud_rules').where('destination', '=', destination).returning('destination').execute()
  return rows.length > 0
}

/**
 * Destinations counted recently (keys `<prefix><destination>` in windows starting at or after
 * `since`), busiest first: the candidates an operator's view of the guard looks at.
 */
export async function listCountedDestinations (db: DbOrTransaction, keyPrefix: string, since: number, limit: number): Promise<Array<{ key: string, count: number }>> {
  const rows = await db.selectFrom('limit_counters')
    .select(eb => ['key', eb.fn.sum<number>('count').as('total')])
    .where('key', 'like', `${keyPrefix}%`)
    .where('window_start', '>=', since)
    .groupBy('key')
    .orderBy('total', 'desc')
    .limit(limit)
    .execute()
  return rows.map(row => ({ key: row.key, count: Number(row.total) }))
}
