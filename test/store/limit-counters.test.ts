import t from 'tap'
import { decrementCounters, incrementCounter, incrementCounters, readCounter } from '../../src/store/limit-counters.js'
import { deleteEndedCounters } from '../../src/store/retention.js'
import { openMigratedDb, testDatabaseKind } from '../helpers/database.js'

const dialect = testDatabaseKind === 'postgres' ? 'PostgreSQL' : 'SQLite'
const window = { key: 'test:key', windowStart: 3_600_000, expiresAt: 7_200_000 }

t.test(`${dialect}: 100 parallel increments count 100`, async t => {
  const db = await openMigratedDb(t)
  const counts = await Promise.all(Array.from({ length: 100 }, async () => await incrementCounter(db, window)))
  t.same([...counts].sort((a, b) => (a ?? 0) - (b ?? 0)), Array.from({ length: 100 }, (_, i) => i + 1), 'each increment saw its own count')
  t.equal(await readCounter(db, window), 100)
})

t.test(`${dialect}: with a ceiling, 100 parallel increments stop exactly at it`, async t => {
  const db = await openMigratedDb(t)
  const counts = await Promise.all(Array.from({ length: 100 }, async () => await incrementCounter(db, window, 7)))
  t.equal(counts.filter(count => count !== undefined).length, 7)
  t.equal(await readCounter(db, window), 7)
})

t.test(`${dialect}: windows and keys are counted apart; a decrement gives one back, never below 0`, async t => {
  const db = await openMigratedDb(t)
  await incrementCounter(db, window)
  await incrementCounter(db, { ...window, windowStart: 7_200_000, expiresAt: 10_800_000 })
  await incrementCounter(db, { ...window, key: 'other' })
  t.equal(await readCounter(db, window), 1)
  await decrementCounters(db, [window])
  await decrementCounters(db, [window])
  t.equal(await readCounter(db, window), 0)
  t.equal(await incrementCounter(db, window), 1)
})

t.test(`${dialect}: ended windows are deleted, live ones kept`, async t => {
  const db = await openMigratedDb(t)
  await incrementCounter(db, window)
  await incrementCounter(db, { key: 'later', windowStart: 7_200_000, expiresAt: 10_800_000 })
  t.equal(await deleteEndedCounters(db, 7_199_999, 100), 0)
  t.equal(await deleteEndedCounters(db, 7_200_000, 100), 1)
  t.same((await db.selectFrom('limit_counters').select('key').execute()).map(row => row.key), ['later'])
})

const windows = ['a', 'b', 'c'].map(key => ({ key: `test:${key}`, windowStart: 3_600_000, expiresAt: 7_200_000 }))

t.test(`${dialect}: several counters in one statement, counts in the order given`, async t => {
  const db = await openMigratedDb(t)
  await incrementCounter(db, windows[1]!)
  t.same(await incrementCounters(db, windows), [1, 2, 1])
  t.same(await incrementCounters(db, [...windows].reverse()), [2, 3, 2])
  await decrementCounters(db, [windows[0]!, windows[2]!])
  t.same(await Promise.all(windows.map(async window => await readCounter(db, window))), [1, 3, 1], 'a decrement of several gives one back of each')
})

t.test(`${dialect}: several counters with their own ceilings, 100 requests at once, each stops exactly at its own`, async t => {
  const db = await openMigratedDb(t)
  const ceilings = [3, 7, 200]
  const results = await Promise.all(Array.from({ length: 100 }, async () => await incrementCounters(db, windows, ceilings)))
  t.same(windows.map((_, i) => results.filter(counts => counts[i] !== undefined).length), [3, 7, 100], 'counted while below the ceiling, not after')
  t.same(await Promise.all(windows.map(async window => await readCounter(db, window))), [3, 7, 100])
  t.same(results.map(counts => counts[2]).sort((a, b) => (a ?? 0) - (b ?? 0)), Array.from({ length: 100 }, (_, i) => i + 1), 'each request saw its own count')
})

t.test(`${dialect}: a decrement never goes below 0, of one counter or several`, async t => {
  const db = await openMigratedDb(t)
  await incrementCounters(db, windows)
  await decrementCounters(db, windows)
  await decrementCounters(db, windows)
  await decrementCounters(db, [windows[0]!])
  t.same(await Promise.all(windows.map(async window => await readCounter(db, window))), [0, 0, 0])
})
