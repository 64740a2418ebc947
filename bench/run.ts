import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { LoadJob, LoadResult } from './load.js'
import {
  connections, here, load, loadMeasured, machine, processStats, record, rounds, seconds, runBench, secret, start, startFloor, startPhonepass,
  summarise, table, work, workers, writeResults
} from './harness.js'
import { signInThroughPages } from './pages.js'
import { copyDatabase, inviteCodeOf, migrate, seedSessions, seedUsers } from './seed.js'
import { seedPasskeys } from './passkeys.js'

// `npm run bench`: phonepass in production mode on fresh SQLite files, beside a bare fastify
// baseline and the floor (bench/floor-server.ts: me, register and verify with nothing around
// their statements), driven by autocannon from separate processes; interleaved rounds, medians.

interface Scenario {
  name: string
  job: (round: number) => LoadJob
  /** The process that answers it, for its CPU time. */
  server: ChildProcess
  /** The floor scenario it is measured against, in the same round. */
  floor?: string
}

async function main (): Promise<void> {
  const started = Date.now()
  // Seeding: 1,000 users with 0–20 invitees each, 150,000 more with a session each for the
  // one-time scenarios (PATCH, refresh); a file with 1,000,000 users and one user with 10,000
  // invitees; a file with just the 1,000 users.
  const mainDb = join(work, 'main.db')
  const bigDb = join(work, 'big.db')
  const oneTimeUsers = 150_000
  await migrate(mainDb)
  seedUsers(mainDb, 1000 + oneTimeUsers, i => (i <= 1000 ? i % 21 : 0))
  const meTokens = await seedSessions(mainDb, secret, Array.from({ length: 1000 }, (_, i) => i + 1))
  const oneTimeTokens = await seedSessions(mainDb, secret, Array.from({ length: oneTimeUsers }, (_, i) => 1001 + i))
  const seedStarted = Date.now()
  await migrate(bigDb)
  // Users 2–1,001 (the token pool) have 0–20 invitees each, as on the main file, so the two
  // `me` scenarios differ only in the size of the table.
  seedUsers(bigDb, 1_000_000, i => (i === 1 ? 10_000 : i <= 1001 ? (i - 1) % 21 : 0))
  const bigSeedSeconds = (Date.now() - seedStarted) / 1000
  const bigTokens = await seedSessions(bigDb, secret, Array.from({ length: 1000 }, (_, i) => i + 2))
  const [heavyToken] = await seedSessions(bigDb, secret, [1])
  // The console-provider server's file holds exactly 1,000 users, the same as users 1–1,000 of
  // the main file, for the scale comparison.
  const smallDb = join(work, 'console.db')
  await migrate(smallDb)
  seedUsers(smallDb, 1000, i => i % 21)
  const smallTokens = await seedSessions(smallDb, secret, Array.from({ length: 1000 }, (_, i) => i + 1))

  // Users 1–1,000 have a passkey each, for the passkey sign-in (no SMS) beside the phone sign-in.
  const passkeys = seedPasskeys(mainDb, Array.from({ length: 1000 }, (_, i) => i + 1))

  // The floor's file is a copy of the main one: the same users, sessions and signing key.
  copyDatabase(mainDb, join(work, 'floor.db'))

  const baselineServer = await start(join(here, 'baseline-server.js'), { PORT: '3100' })
  await start(join(here, 'sms-sink-server.js'), { PORT: '3200' })
  const floor = await startFloor('floor.db', 3300, 3200)
  const phonepass = await startPhonepass('main.db', 3000, 3200)
  const big = await startPhonepass('big.db', 3001, 3200)
  const quiet = await startPhonepass('console.db', 3002, undefined)
  // The same as `phonepass` with the fraud guard off: the guard's cost, measured in the same run.
  copyDatabase(mainDb, join(work, 'unguarded.db'))
  const unguarded = await startPhonepass('unguarded.db', 3003, 3200, { FRAUD_GUARD: 'off' })
  // Browsers signed in through the pages, for GET /profile.
  const pageCookies: string[] = []
  for (let i = 0; i < 200; i++) pageCookies.push(await signInThroughPages(phonepass.url, 'http://127.0.0.1:3200', '+7913' + String(i).padStart(7, '0')))

  let patchCursor = 0
  let refreshCursor = 0
  const take = (count: number, from: 'patch' | 'refresh'): string[] => {
    const cursor = from === 'patch' ? patchCursor : refreshCursor
    const slice = oneTimeTokens.slice(cursor, cursor + count).map(t => (from === 'patch' ? t.access : t.refresh))
    if (from === 'patch') patchCursor += count
    else refreshCursor += count
    return slice
  }
  const budget = Math.floor(oneTimeUsers / (rounds + 1))
  const base = { seconds, connections }
  const meFloor = 'floor: GET /api/users/me/'
  const registerFloor = 'floor: POST /api/users/register/'
  const signInFloor = 'floor: sign-in (register + verify)'
  const meJob = (url: string): LoadJob => ({ ...base, kind: 'me', url, path: '/api/users/me/', pool: meTokens.map(t => t.access) })
  const registerJob = (url: string, round: number): LoadJob => ({ ...base, kind: 'register', url, path: '/api/users/register/', phoneOffset: 1_000_000 * (round + 1) })
  const signInJob = (url: string, round: number): LoadJob => ({ ...base, kind: 'signin', url, path: '', phoneOffset: 5_000_000 + 1_000_000 * round, sinkUrl: 'http://127.0.0.1:3200' })
  // Each phonepass scenario that has a floor runs right after it, so the two meet the same load on the machine.
  const scenarios: Scenario[] = [
    { name: 'baseline (bare fastify)', job: () => ({ ...base, kind: 'get', url: 'http://127.0.0.1:3100', path: '/' }), server: baselineServer },
    { name: meFloor, job: () => meJob(floor.url), server: floor.child },
    { name: 'GET /api/users/me/', job: () => meJob(phonepass.url), server: phonepass.child, floor: meFloor },
    { name: registerFloor, job: round => registerJob(floor.url, round), server: floor.child },
    { name: 'POST /api/users/register/', job: round => registerJob(phonepass.url, round), server: phonepass.child, floor: registerFloor },
    { name: 'register, fraud guard off', job: round => registerJob(unguarded.url, round), server: unguarded.child },
    { name: 'register, console SMS provider', job: round => registerJob(quiet.url, round), server: quiet.child },
    { name: signInFloor, job: round => signInJob(floor.url, round), server: floor.child },
    { name: 'sign-in (register + verify)', job: round => signInJob(phonepass.url, round), server: phonepass.child, floor: signInFloor },
    // The same account's next sign-in, on a device that has its passkey: no SMS at all.
    { name: 'passkey sign-in (options + assertion)', job: () => ({ ...base, kind: 'passkey-signin', url: phonepass.url, path: '', passkeys }), server: phonepass.child },
    { name: 'sign-in, fraud guard off', job: round => signInJob(unguarded.url, round), server: unguarded.child },
    { name: 'PATCH /api/profile/', job: () => ({ ...base, kind: 'patch', url: phonepass.url, path: '/api/profile/', pool: take(budget, 'patch'), inviteCode: inviteCodeOf(1) }), server: phonepass.child },
    { name: 'POST /api/token/refresh/', job: () => ({ ...base, kind: 'refresh', url: phonepass.url, path: '/api/token/refresh/', pool: take(budget, 'refresh') }), server: phonepass.child },
    { name: 'GET /login (page)', job: () => ({ ...base, kind: 'get', url: phonepass.url, path: '/login' }), server: phonepass.child },
    { name: 'GET /profile (page, signed in)', job: () => ({ ...base, kind: 'get', url: phonepass.url, path: '/profile', pool: pageCookies }), server: phonepass.child },
    { name: 'me, 1,000 users', job: () => ({ ...base, kind: 'me', url: quiet.url, path: '/api/users/me/', pool: smallTokens.map(t => t.access) }), server: quiet.child },
    { name: 'me, 1,000,000 users', job: () => ({ ...base, kind: 'me', url: big.url, path: '/api/users/me/', pool: bigTokens.map(t => t.access) }), server: big.child },
    { name: 'me, user with 10,000 invitees', job: () => ({ ...base, kind: 'me', url: big.url, path: '/api/users/me/', pool: [heavyToken!.access] }), server: big.child }
  ]

  process.stderr.write(`seeded in ${((Date.now() - started) / 1000).toFixed(1)} s (1,000,000 users in ${bigSeedSeconds.toFixed(1)} s); warming up\n`)
  for (const scenario of scenarios) await load({ ...scenario.job(-1), seconds: 2 })

  const results = new Map<string, LoadResult[]>()
  const ratios = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    let baseline = 0
    for (const scenario of scenarios) {
      const result = await loadMeasured(scenario.job(round), scenario.server.pid!)
      if (scenario === scenarios[0]) baseline = result.requestsPerSecond
      record(results, ratios, scenario.name, result, baseline)
      process.stderr.write(`round ${round + 1} ${scenario.name}: ${Math.round(result.requestsPerSecond)}/s p99 ${result.p99} ms\n`)
    }
  }
  // Each round's scenario against its floor's run of the same round (the floor runs just before it).
  const floorRatios = new Map<string, number[]>()
  for (const scenario of scenarios) {
    if (scenario.floor === undefined) continue
    const floorRuns = results.get(scenario.floor) ?? []
    floorRatios.set(scenario.name, (results.get(scenario.name) ?? []).map((run, round) => run.requestsPerSecond / (floorRuns[round]?.requestsPerSecond ?? NaN)))
  }
  const rows = summarise(results, ratios, floorRatios)
  const server = processStats(phonepass.child.pid!)
  const bigServer = processStats(big.child.pid!)
  const quietServer = processStats(quiet.child.pid!)
  const floorServer = processStats(floor.child.pid!)
  const rpsOf = (name: string): number => rows.find(row => row.scenario === name)?.requestsPerSecond ?? 0
  const scale = {
    oneMillionOverOneThousand: Number((rpsOf('me, 1,000,000 users') / rpsOf('me, 1,000 users')).toFixed(3)),
    tenThousandInviteesOverOneThousand: Number((rpsOf('me, user with 10,000 invitees') / rpsOf('me, 1,000 users')).toFixed(3))
  }
  const report = {
    date: new Date().toISOString(),
    machine: machine(),
    settings: { seconds, rounds, connections, workers },
    seeding: { oneMillionUsersSeconds: bigSeedSeconds },
    rows,
    scale,
    server: { mainRssMb: server.rssMb, mainCpuSeconds: server.cpuSeconds, bigRssMb: bigServer.rssMb, bigCpuSeconds: bigServer.cpuSeconds, consoleRssMb: quietServer.rssMb, floorRssMb: floorServer.rssMb },
    wallSeconds: Math.round((Date.now() - started) / 1000)
  }
  process.stdout.write(`\n${table(rows, '× baseline')}\n\n${workers} worker${workers === 1 ? '' : 's'} per phonepass; server RSS ${server.rssMb} MB, CPU ${server.cpuSeconds} s (1M-user server: ${bigServer.rssMb} MB, console-provider server: ${quietServer.rssMb} MB); me on 1,000,000 users ${scale.oneMillionOverOneThousand} × me on 1,000; ${report.wallSeconds} s in all\n`)
  const out = writeResults(`${report.date.slice(0, 10)}${workers === 1 ? '' : `-workers-${workers}`}.json`, report)
  process.stdout.write(`written to ${out}\n`)
}

await runBench(main)
