import cluster, { type Worker } from 'node:cluster'
import type { FastifyBaseLogger } from 'fastify'
import pino, { type Logger } from 'pino'
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import type { AppDeps } from '../app.js'
import type { Config } from '../config.js'
import { createLogger } from '../logger.js'
import { createMetrics } from './metrics.js'
import { prepareDatabase } from './start-up.js'

/**
 * WEB_CONCURRENCY above 1: one primary process and that many workers on one port (node:cluster,
 * which hands each new connection to the next worker in turn). The primary serves no request:
 * it prepares the database once, starts the workers, replaces one that dies, adds up their
 * metrics, and on SIGTERM lets each drain as a lone process would.
 */

/** How long a worker has to finish its requests after SIGTERM (close-with-grace in main.ts). */
export const shutdownGraceMs = 10_000

/**
 * A worker that dies before it listens, or within `stableMs` of listening, died of something a
 * new one would meet too (a configuration only workers read, a port taken, a bug at start):
 * each such death in a row doubles the wait before the next start, and the `maxFastDeaths`-th
 * stops the service (exit 1), so the platform reports a crash instead of a process that spins.
 * A worker that has listened for `stableMs` starts the count again.
 */
export const crashLoopPolicy = { stableMs: 10_000, firstDelayMs: 500, maxFastDeaths: 5 }

// How long the primary waits for one worker's metrics before it adds up the others without them.
const collectTimeoutMs = 2000

// Messages over the IPC channel: a worker asks the primary for the sum (scrape → scraped), the
// primary asks every worker for its own metrics (collect → collected).
type Message =
  | { type: 'phonepass:scrape', id: number }
  | { type: 'phonepass:scraped', id: number, text?: string, error?: string }
  | { type: 'phonepass:collect', id: number }
  | { type: 'phonepass:collected', id: number, metrics: WorkerMetrics }

type WorkerMetrics = Array<MetricObjectWithValues<MetricValue<string>>>

function isMessage (value: unknown): value is Message {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' &&
    (value as { type: string }).type.startsWith('phonepass:')
}

/** Runs the primary until it has stopped every worker; then the process exits. */
export async function runPrimary (config: Config): Promise<void> {
  // Written at once, not queued as pino does by default: the primary's last lines come just
  // before it exits, which would drop a queued write or put it after the next line.
  const log = createLogger(config, pino.destination({ dest: 1, sync: true }))
  await prepareDatabase(config, log)
  // Workers exchange metrics with the primary as structured clones: JSON would turn a
  // histogram's +Inf or a gauge's NaN into null.
  cluster.setupPrimary({ serialization: 'advanced' })
  startWorkers(config, log)
}

function startWorkers (config: Config, log: Logger): void {
  const alive = new Map<number, Worker>()
  const listening = new Set<number>()
  const listeningSince = new Map<number, number>()
  const restarts = new Set<NodeJS.Timeout>()
  let fastDeaths = 0
  let stopping: { exitCode: number | undefined } | undefined
  let uncleanExit = false

  function fork (): void {
    // In development a missing secret is made up per process: every worker gets the primary's.
    const worker = cluster.fork({ PHONEPASS_SECRET: config.secrets.join(',') })
    alive.set(worker.id, worker)
    log.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker started')
  }

  cluster.on('listening', (worker, address) => {
    listening.add(worker.id)
    listeningSince.set(worker.id, Date.now())
    log.info({ worker: worker.id, workerPid: worker.process.pid, port: address.port }, 'worker listening')
    // A worker that serves this long proves the start sound again: deaths count anew.
    const stable = setTimeout(() => { fastDeaths = 0 }, crashLoopPolicy.stableMs)
    worker.once('exit', () => { clearTimeout(stable) })
  })

  cluster.on('exit', (worker, code, signal) => {
    const since = listeningSince.get(worker.id)
    alive.delete(worker.id)
    listening.delete(worker.id)
    listeningSince.delete(worker.id)
    const servedMs = since === undefined ? 0 : Date.now() - since
    const facts = { worker: worker.id, workerPid: worker.process.pid, code, signal, servedMs }
    if (stopping !== undefined) {
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') uncleanExit = true
      log.info(facts, 'worker stopped')
      if (alive.size === 0) finish()
      return
    }
    if (servedMs < crashLoopPolicy.stableMs) fastDeaths++
    if (fastDeaths >= crashLoopPolicy.maxFastDeaths) {
      log.fatal({ ...facts, fastDeaths }, `${fastDeaths} workers in a row died before serving ${crashLoopPolicy.stableMs / 1000} s: giving up, stopping the others`)
      stop(1)
      return
    }
    const delayMs = fastDeaths === 0 ? 0 : crashLoopPolicy.firstDelayMs * 2 ** (fastDeaths - 1)
    log.error({ ...facts, restartInMs: delayMs }, 'worker died: starting another')
    const restart = setTimeout(() => {
      restarts.delete(restart)
      fork()
    }, delayMs)
    restarts.add(restart)
  })

  function stop (exitCode?: number): void {
    stopping = { exitCode }
    for (const restart of restarts) clearTimeout(restart)
    restarts.clear()
    for (const worker of alive.values()) worker.process.kill('SIGTERM')
    if (alive.size === 0) {
      finish()
      return
    }
    // Each worker ends itself after its grace; one stuck past it is killed.
    setTimeout(() => {
      for (const worker of alive.values()) {
        log.error({ worker: worker.id, workerPid: worker.process.pid }, 'worker still running after the grace period: killed')
        worker.process.kill('SIGKILL')
      }
      uncleanExit = true
    }, shutdownGraceMs + 5000).unref()
  }

  function finish (): void {
    const exitCode = stopping?.exitCode ?? (uncleanExit ? 1 : 0)
    log.info({ exitCode }, 'all workers stopped')
    process.exit(exitCode)
  }

  // A platform may signal every process (Heroku, a terminal's Ctrl-C): the workers then get it
  // twice and ignore the second (main.ts). A second signal to the primary ends everything at once.
  for (const name of ['SIGTERM', 'SIGINT'] as const) {
    process.on(name, signal => {
      if (stopping !== undefined) {
        log.error({ signal }, `second ${signal}: killing the workers`)
        for (const worker of alive.values()) worker.process.kill('SIGKILL')
        process.exit(1)
      }
      log.info({ signal, workers: alive.size }, 'shutting down: letting every worker finish its requests')
      stop()
    })
  }

  answerScrapes(alive, listening, log)
  for (let i = 0; i < config.workers; i++) fork()
}

/** The primary's side of GET /metrics: asks every listening worker for its metrics and adds them up. */
function answerScrapes (alive: ReadonlyMap<number, Worker>, listening: ReadonlySet<number>, log: Logger): void {
  let nextId = 0
  const waiting = new Map<number, (metrics: WorkerMetrics) => void>()

  async function collectFrom (worker: Worker): Promise<WorkerMetrics | undefined> {
    const id = nextId++
    return await new Promise(resolve => {
      const done = (metrics: WorkerMetrics | undefined): void => {
        clearTimeout(timer)
        waiting.delete(id)
        worker.off('exit', gone)
        resolve(metrics)
      }
      const gone = (): void => { done(undefined) }
      const timer = setTimeout(() => {
        log.warn({ worker: worker.id, workerPid: worker.process.pid }, 'metrics: a worker did not answer; the sum leaves it out')
        done(undefined)
      }, collectTimeoutMs)
      waiting.set(id, done)
      worker.once('exit', gone)
      worker.send({ type: 'phonepass:collect', id } satisfies Message)
    })
  }

  async function sum (): Promise<string> {
    const workers = [...alive.values()].filter(worker => listening.has(worker.id) && worker.isConnected())
    const parts = await Promise.all(workers.map(collectFrom))
    return await AggregatorRegistry.aggregate(parts.filter(part => part !== undefined)).metrics()
  }

  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage(message)) return
    if (message.type === 'phonepass:collected') waiting.get(message.id)?.(message.metrics)
    if (message.type === 'phonepass:scrape') {
      sum().then(
        text => { worker.send({ type: 'phonepass:scraped', id: message.id, text } satisfies Message) },
        (error: unknown) => { worker.send({ type: 'phonepass:scraped', id: message.id, error: String(error) } satisfies Message) }
      )
    }
  })
}

/** The signals a worker drains on itself (main.ts hands them to drainOnFirstSignal, not close-with-grace). */
export const workerSignals = ['SIGTERM', 'SIGINT'] as const

/**
 * A worker gets the primary's SIGTERM and, where the platform signals every process (Heroku,
 * Ctrl-C in a terminal), that one too. close-with-grace takes a second signal for "exit now",
 * which would cut the drain short: here the first starts the drain and the others are ignored.
 */
export function drainOnFirstSignal (log: FastifyBaseLogger, close: () => unknown): void {
  let draining = false
  for (const name of workerSignals) {
    process.on(name, signal => {
      if (draining) return
      draining = true
      log.info({ signal }, 'shutting down')
      close()
    })
  }
}

/**
 * What buildApp is given in a worker: the primary has migrated and written the start-up lines;
 * each log line names the worker (pid is there already, the worker's number reads better); its
 * metrics answer the primary's collection, and GET /metrics answers the sum of all workers.
 */
export function workerAppDeps (config: Config): AppDeps {
  const worker = cluster.worker
  if (worker === undefined) throw new Error('workerAppDeps is for a cluster worker')
  const metrics = createMetrics()
  let nextId = 0
  const waiting = new Map<number, (message: Extract<Message, { type: 'phonepass:scraped' }>) => void>()

  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return
    if (message.type === 'phonepass:collect') {
      metrics.registry.getMetricsAsJSON().then(part => {
        process.send?.({ type: 'phonepass:collected', id: message.id, metrics: part } satisfies Message)
      }, () => {
        // Left out of this sum after the primary's timeout; the next scrape asks again.
      })
    }
    if (message.type === 'phonepass:scraped') waiting.get(message.id)?.(message)
  })

  async function scrapeAll (): Promise<string> {
    const id = nextId++
    const answer = await new Promise<Extract<Message, { type: 'phonepass:scraped' }>>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id)
        reject(new Error('the cluster primary did not answer with the metrics'))
      }, collectTimeoutMs + 3000)
      waiting.set(id, message => {
        clearTimeout(timer)
        waiting.delete(id)
        resolve(message)
      })
      process.send?.({ type: 'phonepass:scrape', id } satisfies Message)
    })
    if (answer.text === undefined) throw new Error(`the cluster primary could not add up the metrics: ${answer.error ?? 'no reason given'}`)
    return answer.text
  }

  return {
    prepared: true,
    logger: createLogger(config).child({ worker: worker.id }),
    metrics,
    scrapeMetrics: scrapeAll
  }
}
