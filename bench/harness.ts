import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LoadJob, LoadResult } from './load.js'
import { launch, runToEnd, stop } from './processes.js'

// What `npm run bench` and `npm run bench:peer` share: processes, load runs, medians, output.

export const here = dirname(fileURLToPath(import.meta.url))
export const root = join(here, '..', '..')
export const seconds = Number(process.env.BENCH_SECONDS ?? 10)
export const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
export const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
export const secret = randomBytes(32).toString('hex')
export const work = mkdtempSync(join(tmpdir(), 'phonepass-bench-'))

/** Node's flags in `npm start` (the Dockerfile and Procfile use the same): the service runs as deployed. */
export const serviceNodeFlags = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } })
  .scripts.start.split(/\s+/).filter(word => word.startsWith('--'))

/**
 * Runs a benchmark's `main` (`npm run bench`, `bench:peer`, `soak`) to its end: every server it
 * started is stopped and the work folder removed, whether it returned, failed half-way or was
 * interrupted, and the command exits by itself (bench/processes.ts).
 */
export async function runBench (main: () => Promise<number | void>): Promise<void> {
  await runToEnd(main, () => { rmSync(work, { recursive: true, force: true }) })
}

const startTimeoutMs = 30_000

/**
 * Starts `script` (a server that sends an IPC message once it listens) with `env` added and
 * Node's flags `execArgv`.
 * If it exits or stays silent before that, it is stopped and the start fails.
 */
export async function start (script: string, env: NodeJS.ProcessEnv, execArgv: string[] = []): Promise<ChildProcess> {
  const child = launch(script, [], { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  await untilReady(child, script, new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('message', () => resolve())
    setTimeout(() => reject(new Error(`${script} did not say it was ready within ${startTimeoutMs / 1000} s`)), startTimeoutMs).unref()
  }))
  return child
}

/** Waits for `ready`, or fails if the child exits first; either way a failed start leaves nothing running. */
async function untilReady (child: ChildProcess, script: string, ready: Promise<void>): Promise<void> {
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`${script} exited with ${code ?? signal} before it was ready`)))
  })
  try {
    await Promise.race([ready, exited])
  } catch (error) {
    await stop(child)
    throw error
  }
}

export async function waitForHealth (url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return
    } catch { /* not up yet */ }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`${url} did not come up`)
}

/**
 * `BENCH_WORKERS=N` runs every phonepass of the bench with `WEB_CONCURRENCY=N` (worker
 * processes on one port, where the service has them); without it, one (1), whatever the
 * environment says, so a run is comparable with the others.
 */
export const workers = Number(process.env.BENCH_WORKERS ?? 1)

/**
 * phonepass's environment for the SQLite file `name` on `port`: production mode, SMS to the
 * sink's webhook, or, with `sinkPort` undefined, to the console provider (below the log level:
 * nothing written). The floor server reads the same.
 */
function phonepassEnv (name: string, port: number, sinkPort: number | undefined, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite:${join(work, name)}`,
    PHONEPASS_SECRET: secret,
    LOG_LEVEL: 'warn',
    WEB_CONCURRENCY: String(workers),
    // The seeded access tokens (seed.ts) live an hour, as long as a run may: a token that lives
    // longer than ACCESS_TOKEN_TTL_SECONDS is refused.
    ACCESS_TOKEN_TTL_SECONDS: process.env.ACCESS_TOKEN_TTL_SECONDS ?? '3600',
    ...(sinkPort === undefined
      ? { SMS_PROVIDER: 'console' }
      : { SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: `http://127.0.0.1:${sinkPort}/sms` }),
    // The load comes from one address: the per-address limits are raised for it by
    // configuration (the per-phone rules stay, and every register uses a new phone).
    ...benchLimits,
    // Passkeys on (production needs a domain): the bench's assertions are signed for it (bench/passkeys.ts).
    PASSKEY_RP_ID: 'bench.example',
    PASSKEY_ORIGINS: 'https://bench.example',
    ...extra
  }
}

/** phonepass in production mode on the SQLite file `name` (see phonepassEnv), as `npm start` runs it. */
export async function startPhonepass (name: string, port: number, sinkPort: number | undefined, extra: Record<string, string> = {}): Promise<{ url: string, child: ChildProcess }> {
  const script = join(root, 'dist', 'src', 'main.js')
  const child = launch(script, [], {
    execArgv: serviceNodeFlags,
    env: phonepassEnv(name, port, sinkPort, extra),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc']
  })
  const url = `http://127.0.0.1:${port}`
  await untilReady(child, script, waitForHealth(url))
  return { url, child }
}

/**
 * The floor (bench/floor-server.ts) on the SQLite file `name`, a copy of phonepass's, with
 * phonepass's environment and Node flags: what me, register and verify cost with nothing around
 * their statements. Always one process.
 */
export async function startFloor (name: string, port: number, sinkPort: number): Promise<{ url: string, child: ChildProcess }> {
  const child = await start(join(here, 'floor-server.js'), phonepassEnv(name, port, sinkPort), serviceNodeFlags)
  return { url: `http://127.0.0.1:${port}`, child }
}

/** better-auth with its phone-number plugin (bench/peers, after `npm ci --prefix bench/peers`), its codes sent to the sink. */
export async function startPeer (port: number, sinkUrl: string): Promise<{ url: string, child: ChildProcess }> {
  const child = await start(join(root, 'bench', 'peers', 'better-auth-server.mjs'), {
    PORT: String(port),
    DATABASE_FILE: join(work, 'better-auth.db'),
    BETTER_AUTH_SECRET: secret,
    SMS_WEBHOOK_URL: `${sinkUrl}/sms`,
    NODE_ENV: 'production'
  })
  return { url: `http://127.0.0.1:${port}`, child }
}

/** A TCP port nobody listens on now. */
export async function freePort (): Promise<number> {
  return await new Promise(resolve => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export const benchLimits: Record<string, string> = {
  LIMIT_CODES_PER_IP_HOUR: '1000000',
  LIMIT_PASSKEY_OPTIONS_PER_IP_HOUR: '1000000',
  LIMIT_WRONG_CODES_PER_IP_HOUR: '1000000',
  SMS_HOURLY_CAP: '10000000',
  // The register load asks for codes to one range and never enters them: the very pattern the
  // fraud guard stops. With its thresholds out of reach the guard still screens, counts and
  // reads for every send (what it costs), and holds none back.
  FRAUD_MIN_SENDS_PREFIX: '100000',
  FRAUD_MIN_SENDS_COUNTRY: '1000000'
}

/** A load run with the CPU time the server process `pid` spent on it, per operation. */
export async function loadMeasured (job: LoadJob, pid: number): Promise<LoadResult> {
  const before = processStats(pid).cpuSeconds
  const result = await load(job)
  const spent = processStats(pid).cpuSeconds - before
  return { ...result, serverCpuUs: Math.round(spent * 1e6 / Math.max(1, result.total)) }
}

export function load (job: LoadJob): Promise<LoadResult> {
  const file = join(work, `job-${randomBytes(4).toString('hex')}.json`)
  writeFileSync(file, JSON.stringify(job))
  return new Promise((resolve, reject) => {
    const child = launch(join(here, 'load.js'), [file], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.once('exit', code => {
      rmSync(file, { force: true })
      if (code !== 0) reject(new Error(`load ${job.kind} exited with ${code}`))
      else resolve(JSON.parse(out) as LoadResult)
    })
  })
}

/**
 * RSS and CPU time of the process `pid` and of every other process in its group: the workers
 * of a server that runs several (each server the harness starts leads a group of its own).
 */
export function processStats (pid: number): { rssMb: number, cpuSeconds: number } {
  let rssKb = 0
  let ticks = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // After the command's name: state, ppid, pgrp, … utime (12th), stime (13th).
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ')
      if (Number(entry) !== pid && Number(fields[2]) !== pid) continue
      const status = readFileSync(`/proc/${entry}/status`, 'utf8')
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // Gone meanwhile.
    }
  }
  return { rssMb: Math.round(rssKb / 1024), cpuSeconds: ticks / 100 }
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export interface Row {
  scenario: string
  requestsPerSecond: number
  p50: number
  p99: number
  errors: number
  ratio: number
  /** The median of the per-round ratios to the scenario's floor (bench/floor-server.ts), where it has one. */
  floorRatio?: number
  /** Median server CPU per operation, µs: what a request costs the server, whatever the client costs. */
  serverCpuUs?: number
  /** Median share of one core the load client used: near 1, the client, not the server, set the pace. */
  clientCore?: number
}

/**
 * Medians over the rounds of each scenario; `ratio` is the median of per-round ratios, and
 * `floorRatio` of the per-round ratios in `floorRatios`, for the scenarios it has.
 */
export function summarise (results: Map<string, LoadResult[]>, ratios: Map<string, number[]>, floorRatios = new Map<string, number[]>()): Row[] {
  return [...results].map(([scenario, runs]) => ({
    scenario,
    requestsPerSecond: Math.round(median(runs.map(r => r.requestsPerSecond))),
    p50: median(runs.map(r => r.p50)),
    p99: median(runs.map(r => r.p99)),
    errors: runs.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
    ratio: Number(median(ratios.get(scenario) ?? []).toFixed(3)),
    ...(floorRatios.has(scenario) ? { floorRatio: Number(median(floorRatios.get(scenario) ?? []).toFixed(3)) } : {}),
    ...(runs.every(r => r.serverCpuUs !== undefined) ? { serverCpuUs: Math.round(median(runs.map(r => r.serverCpuUs ?? 0))) } : {}),
    ...(runs.every(r => r.clientCore !== undefined) ? { clientCore: Number(median(runs.map(r => r.clientCore ?? 0)).toFixed(2)) } : {})
  }))
}

export function table (rows: Row[], ratioTitle: string): string {
  const floor = rows.some(r => r.floorRatio !== undefined)
  const header = `| scenario | requests/s | p50 ms | p99 ms | errors | ${ratioTitle} |${floor ? ' × floor |' : ''} server CPU µs/op | client core |\n` +
    `|---|---|---|---|---|---|${floor ? '---|' : ''}---|---|\n`
  return header + rows.map(r => `| ${r.scenario} | ${r.requestsPerSecond} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.ratio} |${floor ? ` ${r.floorRatio ?? '–'} |` : ''} ${r.serverCpuUs ?? '–'} | ${r.clientCore ?? '–'} |`).join('\n')
}

export function machine (): Record<string, unknown> {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version }
}

/** Writes the report as bench/results/`name`, or `name` with -2, -3, … before .json: a run never overwrites an earlier one's. */
export function writeResults (name: string, report: object): string {
  const resultsDir = join(root, 'bench', 'results')
  mkdirSync(resultsDir, { recursive: true })
  let out = join(resultsDir, name)
  for (let n = 2; existsSync(out); n++) out = join(resultsDir, name.replace(/\.json$/, `-${n}.json`))
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n')
  return out
}

/** Records one load run's result under its scenario, with its ratio to the round's reference. */
export function record (results: Map<string, LoadResult[]>, ratios: Map<string, number[]>, scenario: string, result: LoadResult, reference: number): void {
  results.set(scenario, [...(results.get(scenario) ?? []), result])
  ratios.set(scenario, [...(ratios.get(scenario) ?? []), result.requestsPerSecond / reference])
}
