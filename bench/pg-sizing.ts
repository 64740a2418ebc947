import type { ChildProcess } from 'node:child_process'
import { execFile, execFileSync } from 'node:child_process'
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import type { LoadJob, LoadResult } from './load.js'
import { launch, runToEnd, stop } from './processes.js'
import { benchLimits, freePort, here, load, machine, processStats, root, secret, serviceNodeFlags, start, waitForHealth, work, writeResults } from './harness.js'

// `npm run bench:pg`: the sizing measurements of docs/SCALING.md. A throwaway PostgreSQL
// cluster of its own (Debian's initdb/pg_ctl, pg_stat_statements preloaded, track_io_timing on;
// the machine's server is never touched), BENCH_INSTANCES phonepass processes on it, each
// scenario driven by load processes, and per operation: statements, rows, WAL bytes, table
// growth and the CPU time of phonepass and of PostgreSQL. Then pgbench replays phonepass's own
// transactions (bench/pgbench/*.sql, written from what pg_stat_statements recorded) at rising
// client counts: the database's ceiling apart from Node.

const run = promisify(execFile)
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const instances = Number(process.env.BENCH_INSTANCES ?? 2)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)
const pgPort = Number(process.env.BENCH_PG_PORT ?? 55432)
const pgbenchSeconds = Number(process.env.BENCH_PGBENCH_SECONDS ?? 8)
const pgbenchClients = (process.env.BENCH_PGBENCH_CLIENTS ?? '1,2,4,8,16,32,64').split(',').map(Number)
const label = process.env.BENCH_LABEL ?? ''
const skipLoad = process.env.BENCH_PGBENCH_ONLY === '1'
const bin = '/usr/lib/postgresql/15/bin'
const asRoot = process.getuid?.() === 0
const pgDir = join(work, 'pg')
const pgData = join(pgDir, 'data')
const databaseUrl = `postgres://postgres@127.0.0.1:${pgPort}/phonepass`

async function asPostgres (program: string, args: string[], timeout = 120_000): Promise<string> {
  const [command, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args]
  const { stdout } = await run(command, argv, { timeout, maxBuffer: 16 * 2 ** 20 })
  return stdout
}

async function startCluster (): Promise<void> {
  mkdirSync(pgDir, { recursive: true })
  if (asRoot) {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
    chownSync(work, Number(uid), Number(gid))
    chownSync(pgDir, Number(uid), Number(gid))
  }
  await asPostgres('initdb', ['-D', pgData, '--auth=trust', '--username=postgres', '--encoding=UTF8'])
  // Durable as in production (fsync, synchronous_commit on); the statistics this bench reads;
  // every lock wait over 20 ms written to the log, with the row and statement it waited on.
  const settings = [
    `port=${pgPort}`, `unix_socket_directories='${pgDir}'`, "listen_addresses='127.0.0.1'", 'max_connections=200',
    "shared_preload_libraries='pg_stat_statements'", 'pg_stat_statements.track=all', 'track_io_timing=on',
    'shared_buffers=256MB', 'log_lock_waits=on', 'deadlock_timeout=20ms', "log_line_prefix='%m [%p] '"
  ]
  writeFileSync(join(pgData, 'postgresql.auto.conf'), settings.join('\n') + '\n')
  await asPostgres('pg_ctl', ['-D', pgData, '-l', join(pgDir, 'log'), '-w', 'start'])
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${pgPort}/postgres` })
  await admin.connect()
  await admin.query('create database phonepass')
  await admin.end()
}

/** The postmaster and every backend: their CPU time is PostgreSQL's share. */
function postgresCpuSeconds (): number {
  const postmaster = Number(readFileSync(join(pgData, 'postmaster.pid'), 'utf8').split('\n')[0])
  let ticks = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const rest = fields.slice(fields.lastIndexOf(') ') + 2).split(' ')
      if (Number(entry) !== postmaster && Number(rest[1]) !== postmaster) continue
      ticks += Number(rest[11]) + Number(rest[12])
      // The postmaster's reaped children (backends of connections that have closed, as pgbench's do).
      if (Number(entry) === postmaster) ticks += Number(rest[13]) + Number(rest[14])
    } catch {
      // Gone meanwhile.
    }
  }
  return ticks / 100
}

// A connection of its own for the lock-wait sampler, beside the one that reads the statistics.
let sampling: pg.Client

interface Snapshot {
  wal: { records: number, fpi: number, bytes: number }
  xacts: number
  blocksRead: number
  blocksHit: number
  tables: Record<string, { bytes: number, inserted: number, updated: number, hotUpdated: number, deleted: number, rows: number }>
  postgresCpu: number
  phonepassCpu: number
}

async function snapshot (db: pg.Client, servers: ChildProcess[]): Promise<Snapshot> {
  // The statistics collector is asynchronous: flushed before it is read.
  await db.query('select pg_stat_force_next_flush()')
  const { rows: [wal] } = await db.query<{ wal_records: string, wal_fpi: string, wal_bytes: string }>('select wal_records, wal_fpi, wal_bytes from pg_stat_wal')
  const { rows: [database] } = await db.query<{ xact_commit: string, blks_read: string, blks_hit: string }>('select xact_commit, blks_read, blks_hit from pg_stat_database where datname = current_database()')
  const { rows: tables } = await db.query<{ relname: string, bytes: string, n_tup_ins: string, n_tup_upd: string, n_tup_hot_upd: string, n_tup_del: string, n_live_tup: string }>(
    'select relname, pg_total_relation_size(relid) as bytes, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, n_live_tup from pg_stat_user_tables')
  return {
    wal: { records: Number(wal?.wal_records), fpi: Number(wal?.wal_fpi), bytes: Number(wal?.wal_bytes) },
    xacts: Number(database?.xact_commit),
    blocksRead: Number(database?.blks_read),
    blocksHit: Number(database?.blks_hit),
    tables: Object.fromEntries(tables.map(t => [t.relname, {
      bytes: Number(t.bytes), inserted: Number(t.n_tup_ins), updated: Number(t.n_tup_upd), hotUpdated: Number(t.n_tup_hot_upd), deleted: Number(t.n_tup_del), rows: Number(t.n_live_tup)
    }])),
    postgresCpu: postgresCpuSeconds(),
    phonepassCpu: servers.reduce((sum, server) => sum + processStats(server.pid!).cpuSeconds, 0)
  }
}

const perOp = (value: number, ops: number): number => Number((value / Math.max(1, ops)).toFixed(2))

/** Lock waits sampled every 50 ms from pg_stat_activity, by the statement that waited. */
function sampleLockWaits (db: pg.Client): { stop: () => Promise<Record<string, number>> } {
  const waits: Record<string, number> = {}
  let running = true
  const done = (async () => {
    while (running) {
      const { rows } = await db.query<{ query: string, n: string }>(
        "select left(query, 160) as query, count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database() group by 1")
      for (const row of rows) waits[row.query] = (waits[row.query] ?? 0) + Number(row.n)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })()
  return { stop: async () => { running = false; await done; return waits } }
}

/** The lock waits PostgreSQL logged (log_lock_waits) since `from`: which relation's rows were waited on. */
function loggedLockWaits (from: number): { total: number, byRelation: Record<string, number> } {
  const log = readFileSync(join(pgDir, 'log'), 'utf8').slice(from)
  const byRelation: Record<string, number> = {}
  let total = 0
  for (const match of log.matchAll(/still waiting for \w+ on [^\n]*\n(?:[^\n]*\n){0,3}?[^\n]*CONTEXT: {2}while (?:updating tuple|locking tuple|inserting index tuple|checking uniqueness of tuple) \(\d+,\d+\) in relation "(\w+)"/g)) {
    total++
    byRelation[match[1]!] = (byRelation[match[1]!] ?? 0) + 1
  }
  const all = (log.match(/still waiting for/g) ?? []).length
  return { total: all, byRelation: total === all ? byRelation : { ...byRelation, unattributed: all - total } }
}

const logSize = (): number => readFileSync(join(pgDir, 'log')).length

interface Scenario {
  name: string
  /** The jobs run at once, one per instance. */
  jobs: (round: number) => LoadJob[]
  /** HTTP requests one operation makes (sign-in: register and verify). */
  requestsPerOp: number
}

async function signInForTokens (url: string, sinkUrl: string, phone: string): Promise<{ access: string, refresh: string }> {
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
    return await response.json() as Record<string, unknown>
  }
  await post('/api/users/register/', { phone })
  const code = await (await fetch(`${sinkUrl}/code/${encodeURIComponent(phone)}`)).text()
  const tokens = await post('/api/users/verify_code/', { phone, auth_code: code })
  return { access: String(tokens.access), refresh: String(tokens.refresh) }
}

/** The statements of the last scenario, with what each cost per operation. */
async function statements (db: pg.Client, ops: number): Promise<Array<Record<string, unknown>>> {
  const { rows } = await db.query<{ query: string, calls: string, rows: string, total_exec_time: number, shared_blks_dirtied: string, wal_bytes: string }>(
    `select query, calls, rows, total_exec_time, shared_blks_dirtied, wal_bytes from pg_stat_statements
      where dbid = (select oid from pg_database where datname = current_database()) and calls > 0
      order by calls desc, total_exec_time desc`)
  return rows
    .filter(row => !/pg_stat_|pg_database|pg_stat_activity|pg_total_relation_size/.test(row.query))
    .map(row => ({
      query: row.query.replace(/\s+/g, ' ').slice(0, 400),
      perOp: perOp(Number(row.calls), ops),
      rowsPerCall: Number((Number(row.rows) / Number(row.calls)).toFixed(2)),
      meanMs: Number((row.total_exec_time / Number(row.calls)).toFixed(3)),
      walBytesPerOp: perOp(Number(row.wal_bytes), ops)
    }))
    .filter(row => row.perOp >= 0.01)
}

async function measure (db: pg.Client, scenario: Scenario, round: number, servers: ChildProcess[]): Promise<Record<string, unknown>> {
  await db.query('select pg_stat_statements_reset()')
  const before = await snapshot(db, servers)
  const logFrom = logSize()
  const sampler = sampleLockWaits(sampling)
  const started = Date.now()
  const results: LoadResult[] = await Promise.all(scenario.jobs(round).map(async job => await load(job)))
  const wall = (Date.now() - started) / 1000
  const waits = await sampler.stop()
  const after = await snapshot(db, servers)
  const ops = results.reduce((sum, r) => sum + r.total, 0)
  const tableGrowth = Object.fromEntries(Object.entries(after.tables).map(([name, t]) => {
    const b = before.tables[name] ?? { bytes: 0, inserted: 0, updated: 0, hotUpdated: 0, deleted: 0, rows: 0 }
    return [name, {
      bytesPerOp: perOp(t.bytes - b.bytes, ops),
      insertedPerOp: perOp(t.inserted - b.inserted, ops),
      updatedPerOp: perOp(t.updated - b.updated, ops),
      hotUpdatedPerOp: perOp(t.hotUpdated - b.hotUpdated, ops),
      deletedPerOp: perOp(t.deleted - b.deleted, ops)
    }]
  }).filter(([, g]) => Object.values(g as Record<string, number>).some(v => v !== 0)))
  const postgresCpu = after.postgresCpu - before.postgresCpu
  const phonepassCpu = after.phonepassCpu - before.phonepassCpu
  const listed = await statements(db, ops)
  return {
    scenario: scenario.name,
    round,
    operationsPerSecond: Math.round(ops / wall),
    // The machine's 2 cores are shared with the load clients and whatever else runs: say how busy it was.
    loadAverage: loadavg()[0],
    requestsPerSecond: Math.round(ops * scenario.requestsPerOp / wall),
    p50: results.map(r => r.p50),
    p99: results.map(r => r.p99),
    errors: results.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
    operations: ops,
    phonepassCpuUsPerOp: Math.round(phonepassCpu * 1e6 / Math.max(1, ops)),
    postgresCpuUsPerOp: Math.round(postgresCpu * 1e6 / Math.max(1, ops)),
    loadClientCores: results.map(r => r.clientCore),
    commitsPerOp: perOp(after.xacts - before.xacts, ops),
    statementsPerOp: Number(listed.reduce((sum, s) => sum + Number(s.perOp), 0).toFixed(2)),
    walRecordsPerOp: perOp(after.wal.records - before.wal.records, ops),
    walBytesPerOp: perOp(after.wal.bytes - before.wal.bytes, ops),
    walFullPageImagesPerOp: perOp(after.wal.fpi - before.wal.fpi, ops),
    blocksReadPerOp: perOp(after.blocksRead - before.blocksRead, ops),
    blocksHitPerOp: perOp(after.blocksHit - before.blocksHit, ops),
    tables: tableGrowth,
    lockWaitSamples: waits,
    lockWaitsLogged: loggedLockWaits(logFrom),
    statements: listed
  }
}

async function pgbenchOnce (file: string, clients: number): Promise<{ out: string }> {
  return {
    out: await asPostgres('pgbench', ['-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', '-n', '-M', 'prepared', '-f', file,
      '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(pgbenchSeconds), 'phonepass'], (pgbenchSeconds + 60) * 1000)
  }
}

/** pgbench on one of bench/pgbench/*.sql at each client count: transactions per second, latency, PostgreSQL's CPU per transaction. */
async function pgbench (script: string): Promise<Array<Record<string, unknown>>> {
  const file = join(work, `${script}.sql`)
  writeFileSync(file, readFileSync(join(root, 'bench', 'pgbench', `${script}.sql`)))
  const rows: Array<Record<string, unknown>> = []
  for (const clients of pgbenchClients) {
    const before = postgresCpuSeconds()
    const ran = await pgbenchOnce(file, clients).catch((error: unknown) => ({ error: String(error) }))
    if ('error' in ran) { rows.push({ clients, ...ran }); process.stderr.write(`pgbench ${script} ${clients} clients failed: ${ran.error}\n`); continue }
    const out = ran.out
    const spent = postgresCpuSeconds() - before
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1])
    const latency = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1])
    const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1])
    const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0)
    rows.push({ clients, tps: Math.round(tps), latencyMs: latency, failed, postgresCpuUsPerTx: Math.round(spent * 1e6 / Math.max(1, transactions)) })
    process.stderr.write(`pgbench ${script} ${clients} clients: ${Math.round(tps)} tps, ${latency} ms\n`)
  }
  return rows
}

async function main (): Promise<void> {
  const started = Date.now()
  await startCluster()
  const db = new pg.Client({ connectionString: databaseUrl })
  await db.connect()
  await db.query('create extension pg_stat_statements')
  sampling = new pg.Client({ connectionString: databaseUrl })
  await sampling.connect()
  const sinkPort = await freePort()
  const sinkUrl = `http://127.0.0.1:${sinkPort}`
  await start(join(here, 'sms-sink-server.js'), { PORT: String(sinkPort) })
  const servers: Array<{ url: string, child: ChildProcess }> = []
  for (let i = 0; i < instances; i++) {
    const port = await freePort()
    const script = join(root, 'dist', 'src', 'main.js')
    const child = launch(script, [], {
      execArgv: serviceNodeFlags,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: databaseUrl,
        DATABASE_POOL_SIZE: process.env.DATABASE_POOL_SIZE ?? '10',
        PHONEPASS_SECRET: secret,
        LOG_LEVEL: 'warn',
        WEB_CONCURRENCY: '1',
        ACCESS_TOKEN_TTL_SECONDS: '3600',
        SMS_PROVIDER: 'webhook',
        SMS_WEBHOOK_URL: `${sinkUrl}/sms`,
        // The load gives each phone an address of its own in X-Forwarded-For (load.ts, spreadAddresses).
        TRUST_PROXY: '127.0.0.1',
        ...benchLimits
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc']
    })
    const url = `http://127.0.0.1:${port}`
    // The first migrates; the others start once it has.
    await waitForHealth(url)
    servers.push({ url, child })
  }
  const children = servers.map(s => s.child)
  const report: Record<string, unknown> = { date: new Date().toISOString(), label, machine: machine(), settings: { seconds, instances, connections, pgbenchSeconds, pgbenchClients } }

  // Tokens for me and refresh: real sign-ins, spread over the instances (pgbench's me.sql reads these users too).
  const meTokens: string[] = []
  const refreshTokens: string[] = []
  for (let i = 0; i < 400; i++) {
    const tokens = await signInForTokens(servers[i % servers.length]!.url, sinkUrl, '+7998' + String(i * 7919 % 10_000_000).padStart(7, '0'))
    if (i < 200) meTokens.push(tokens.access)
    else refreshTokens.push(tokens.refresh)
  }
  if (!skipLoad) {
    const per = Math.max(1, Math.floor(connections / servers.length))
    let refreshRound = 0
    const scenarios: Scenario[] = [
      { name: 'register', requestsPerOp: 1, jobs: round => servers.map((s, i) => ({ kind: 'register', url: s.url, path: '/api/users/register/', seconds, connections: per, phoneSpace: 10 + i, phoneOffset: 1_000_000 * (round + 2), spreadAddresses: true })) },
      { name: 'sign-in (register + verify_code)', requestsPerOp: 2, jobs: round => servers.map((s, i) => ({ kind: 'signin', url: s.url, path: '', seconds, connections: per, phoneSpace: 40 + i, phoneOffset: 1_000_000 * (round + 2), sinkUrl, spreadAddresses: true })) },
      { name: 'me', requestsPerOp: 1, jobs: () => servers.map((s, i) => ({ kind: 'me', url: s.url, path: '/api/users/me/', seconds, connections: per, pool: meTokens.filter((_, k) => k % servers.length === i) })) },
      {
        name: 'refresh',
        requestsPerOp: 1,
        // Each round rotates chains of its own: a chain is used by one loop at a time.
        jobs: () => {
          const chains = refreshTokens.slice(refreshRound * per * servers.length, (refreshRound + 1) * per * servers.length)
          refreshRound++
          return servers.map((s, i) => ({ kind: 'rotate', url: s.url, path: '/api/token/refresh/', seconds, connections: per, pool: chains.slice(i * per, (i + 1) * per) }))
        }
      }
    ]
    process.stderr.write(`ready in ${((Date.now() - started) / 1000).toFixed(0)} s; warming up\n`)
    for (const scenario of scenarios.slice(0, 3)) await Promise.all(scenario.jobs(-1).map(async job => await load({ ...job, seconds: 2 })))
    const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
    const measured: Array<Record<string, unknown>> = []
    for (let round = 0; round < rounds; round++) {
      for (const scenario of scenarios) {
        const result = await measure(db, scenario, round, children)
        measured.push(result)
        process.stderr.write(`round ${round + 1} ${scenario.name}: ${String(result.operationsPerSecond)} ops/s, ${String(result.statementsPerOp)} statements, ${String(result.walBytesPerOp)} WAL bytes, phonepass ${String(result.phonepassCpuUsPerOp)} µs + PostgreSQL ${String(result.postgresCpuUsPerOp)} µs CPU per op, lock waits ${JSON.stringify(result.lockWaitsLogged)}\n`)
      }
    }
    report.scenarios = measured
    const { rows } = await db.query<{ relname: string, bytes: string, rows: string }>(
      'select relname, pg_total_relation_size(relid) as bytes, n_live_tup as rows from pg_stat_user_tables order by 2 desc')
    report.tableSizes = rows.map(r => ({ table: r.relname, bytes: Number(r.bytes), rows: Number(r.rows), bytesPerRow: Math.round(Number(r.bytes) / Math.max(1, Number(r.rows))) }))
  }
  for (const server of servers) await stop(server.child)

  // The database alone: phonepass's transactions replayed by pgbench.
  const scripts = (process.env.BENCH_PGBENCH_SCRIPTS ?? 'send-one-row,send-spread,verify-one-row,verify-spread,me').split(',').filter(s => s !== '')
  const pgbenchResults: Record<string, unknown> = {}
  for (const script of scripts) pgbenchResults[script] = await pgbench(script)
  report.pgbench = pgbenchResults
  await db.end()
  await sampling.end()
  report.wallSeconds = Math.round((Date.now() - started) / 1000)
  const out = writeResults(`${report.date as string}`.slice(0, 10) + `-pg-sizing${label === '' ? '' : `-${label}`}.json`, report)
  process.stdout.write(`written to ${out}\n`)
}

// The cluster is stopped however the run ends (pg_ctl daemonises it: it is no launched child).
await runToEnd(main, () => {
  try {
    const [command, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', pgData, '-m', 'fast', '-w', 'stop']] : [join(bin, 'pg_ctl'), ['-D', pgData, '-m', 'fast', '-w', 'stop']]
    execFileSync(command, argv, { stdio: 'ignore', timeout: 60_000 })
  } catch {
    // Not started, or stopped already.
  }
  rmSync(work, { recursive: true, force: true })
})
