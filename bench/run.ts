import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LoadJob, LoadResult } from './load.js'
import { inviteCodeOf, migrate, seedSessions, seedUsers } from './seed.js'

// `npm run bench`: phonepass in production mode on fresh SQLite files, beside a bare fastify
// baseline, driven by autocannon from separate processes; interleaved rounds, medians.

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const secret = randomBytes(32).toString('hex')
const work = mkdtempSync(join(tmpdir(), 'phonepass-bench-'))
const children: ChildProcess[] = []

function start (script: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(script, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  children.push(child)
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', code => reject(new Error(`${script} exited with ${code}`)))
    child.once('message', () => resolve(child))
  })
}

async function waitForHealth (url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return
    } catch { /* not up yet */ }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`${url} did not come up`)
}

async function startPhonepass (name: string, port: number, sinkPort: number): Promise<{ url: string, child: ChildProcess }> {
  const child = fork(join(root, 'dist', 'src', 'main.js'), [], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(work, name)}`,
      PHONEPASS_SECRET: secret,
      LOG_LEVEL: 'warn',
      SMS_PROVIDER: 'webhook',
      SMS_WEBHOOK_URL: `http://127.0.0.1:${sinkPort}/sms`,
      // The load comes from one address: the per-address limits are raised for it by
      // configuration (the per-phone rules stay, and every register uses a new phone).
      ...benchLimits
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc']
  })
  children.push(child)
  const url = `http://127.0.0.1:${port}`
  await waitForHealth(url)
  return { url, child }
}

const benchLimits: Record<string, string> = {
  LIMIT_IP_CODES_PER_HOUR: '100000000',
  LIMIT_IP_WRONG_CODES_PER_HOUR: '100000000',
  SMS_HOURLY_CAP: '100000000'
}

function load (job: LoadJob): Promise<LoadResult> {
  const file = join(work, `job-${randomBytes(4).toString('hex')}.json`)
  writeFileSync(file, JSON.stringify(job))
  return new Promise((resolve, reject) => {
    const child = fork(join(here, 'load.js'), [file], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.once('exit', code => {
      rmSync(file, { force: true })
      if (code !== 0) reject(new Error(`load ${job.kind} exited with ${code}`))
      else resolve(JSON.parse(out) as LoadResult)
    })
  })
}

function processStats (pid: number): { rssMb: number, cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  const ticks = Number(fields[11]) + Number(fields[12])
  return { rssMb: Math.round(rssKb / 1024), cpuSeconds: ticks / 100 }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface Scenario {
  name: string
  job: (round: number) => LoadJob
}

async function main (): Promise<void> {
  const started = Date.now()
  // Seeding: 1,000 users with 0–20 invitees each, 150,000 more with a session each for the
  // one-time scenarios (PATCH, refresh), and a separate file with 1,000,000 users and one user
  // with 10,000 invitees.
  const mainDb = join(work, 'main.db')
  const bigDb = join(work, 'big.db')
  const oneTimeUsers = 150_000
  await migrate(mainDb)
  seedUsers(mainDb, 1000 + oneTimeUsers, i => (i <= 1000 ? i % 21 : 0))
  const meTokens = seedSessions(mainDb, secret, Array.from({ length: 1000 }, (_, i) => i + 1))
  const oneTimeTokens = seedSessions(mainDb, secret, Array.from({ length: oneTimeUsers }, (_, i) => 1001 + i))
  const seedStarted = Date.now()
  await migrate(bigDb)
  seedUsers(bigDb, 1_000_000, i => (i === 1 ? 10_000 : 0))
  const bigSeedSeconds = (Date.now() - seedStarted) / 1000
  const bigTokens = seedSessions(bigDb, secret, Array.from({ length: 1000 }, (_, i) => i + 2))
  const [heavyToken] = seedSessions(bigDb, secret, [1])

  await start(join(here, 'baseline-server.js'), { PORT: '3100' })
  await start(join(here, 'sms-sink-server.js'), { PORT: '3200' })
  const phonepass = await startPhonepass('main.db', 3000, 3200)
  const big = await startPhonepass('big.db', 3001, 3200)

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
  const scenarios: Scenario[] = [
    { name: 'baseline (bare fastify)', job: () => ({ ...base, kind: 'get', url: 'http://127.0.0.1:3100', path: '/' }) },
    { name: 'GET /api/users/me/', job: () => ({ ...base, kind: 'me', url: phonepass.url, path: '/api/users/me/', pool: meTokens.map(t => t.access) }) },
    { name: 'POST /api/users/register/', job: round => ({ ...base, kind: 'register', url: phonepass.url, path: '/api/users/register/', phoneOffset: 1_000_000 * (round + 1) }) },
    { name: 'sign-in (register + verify)', job: round => ({ ...base, kind: 'signin', url: phonepass.url, path: '', phoneOffset: 5_000_000 + 1_000_000 * round, sinkUrl: 'http://127.0.0.1:3200' }) },
    { name: 'PATCH /api/profile/', job: () => ({ ...base, kind: 'patch', url: phonepass.url, path: '/api/profile/', pool: take(budget, 'patch'), inviteCode: inviteCodeOf(1) }) },
    { name: 'POST /api/token/refresh/', job: () => ({ ...base, kind: 'refresh', url: phonepass.url, path: '/api/token/refresh/', pool: take(budget, 'refresh') }) },
    { name: 'me, 1,000,000 users', job: () => ({ ...base, kind: 'me', url: big.url, path: '/api/users/me/', pool: bigTokens.map(t => t.access) }) },
    { name: 'me, user with 10,000 invitees', job: () => ({ ...base, kind: 'me', url: big.url, path: '/api/users/me/', pool: [heavyToken!.access] }) }
  ]

  process.stderr.write(`seeded in ${((Date.now() - started) / 1000).toFixed(1)} s (1,000,000 users in ${bigSeedSeconds.toFixed(1)} s); warming up\n`)
  for (const scenario of scenarios) await load({ ...scenario.job(-1), seconds: 2 })

  const results = new Map<string, LoadResult[]>()
  const ratios = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    let baseline = 0
    for (const scenario of scenarios) {
      const result = await load(scenario.job(round))
      if (scenario === scenarios[0]) baseline = result.requestsPerSecond
      results.set(scenario.name, [...(results.get(scenario.name) ?? []), result])
      ratios.set(scenario.name, [...(ratios.get(scenario.name) ?? []), result.requestsPerSecond / baseline])
      process.stderr.write(`round ${round + 1} ${scenario.name}: ${Math.round(result.requestsPerSecond)}/s p99 ${result.p99} ms\n`)
    }
  }

  const rows = scenarios.map(({ name }) => {
    const runs = results.get(name) ?? []
    return {
      scenario: name,
      requestsPerSecond: Math.round(median(runs.map(r => r.requestsPerSecond))),
      p50: median(runs.map(r => r.p50)),
      p99: median(runs.map(r => r.p99)),
      errors: runs.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
      ratioToBaseline: Number(median(ratios.get(name) ?? []).toFixed(3))
    }
  })
  const server = processStats(phonepass.child.pid!)
  const bigServer = processStats(big.child.pid!)
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
    settings: { seconds, rounds, connections },
    seeding: { oneMillionUsersSeconds: bigSeedSeconds },
    rows,
    server: { mainRssMb: server.rssMb, mainCpuSeconds: server.cpuSeconds, bigRssMb: bigServer.rssMb, bigCpuSeconds: bigServer.cpuSeconds },
    wallSeconds: Math.round((Date.now() - started) / 1000)
  }
  const header = '| scenario | requests/s | p50 ms | p99 ms | errors | × baseline |\n|---|---|---|---|---|---|\n'
  const table = header + rows.map(r => `| ${r.scenario} | ${r.requestsPerSecond} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.ratioToBaseline} |`).join('\n')
  process.stdout.write(`\n${table}\n\nserver RSS ${server.rssMb} MB, CPU ${server.cpuSeconds} s (1M-user server: ${bigServer.rssMb} MB); ${report.wallSeconds} s in all\n`)
  const resultsDir = join(root, 'bench', 'results')
  mkdirSync(resultsDir, { recursive: true })
  const out = join(resultsDir, `${report.date.slice(0, 10)}.json`)
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(`written to ${out}\n`)
}

try {
  await main()
} finally {
  for (const child of children) child.kill('SIGTERM')
  rmSync(work, { recursive: true, force: true })
}
