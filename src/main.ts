import cluster from 'node:cluster'
import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { ConfigError, loadConfig, type Config } from './config.js'
import { createLogger } from './logger.js'
import { tracesExporterOf } from './ops/traces-setting.js'
import { drainOnFirstSignal, runPrimary, shutdownGraceMs, workerAppDeps, workerSignals } from './ops/cluster.js'

async function start (config: Config): Promise<void> {
  if (cluster.isPrimary && config.workers > 1) {
    // WEB_CONCURRENCY above 1: this process starts the workers, each of which runs the rest.
    await runPrimary(config)
    return
  }
  // OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables: traces, started before the app
  // opens its database (pg is instrumented when first loaded). Off: nothing of it is loaded.
  const tracesExporter = tracesExporterOf(process.env)
  const tracing = tracesExporter === undefined ? undefined : await (await import('./ops/tracing.js')).startTracing(tracesExporter)
  // Loaded here, not above: a primary never builds an app, and fastify with all it brings
  // would cost it some 35 MB of memory.
  const { buildApp } = await import('./app.js')
  const app = await buildApp(config, { ...(cluster.isWorker ? workerAppDeps(config) : {}), ...(tracing === undefined ? {} : { tracing }) })

  // SIGTERM/SIGINT: stop accepting, let requests in flight finish (bounded), close the database.
  const closing = closeWithGrace({ delay: shutdownGraceMs, ...(cluster.isWorker ? { skip: [...workerSignals] } : {}) }, async ({ signal, err, manual }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
    // A worker's drain is started by drainOnFirstSignal, which says so itself.
    else if (manual !== true) app.log.info({ signal }, 'shutting down')
    await app.close()
    // The spans of the last requests are sent before the process ends.
    await tracing?.shutdown()
  })
  if (cluster.isWorker) drainOnFirstSignal(app.log, closing.close)

  await app.listen({ port: config.port, host: config.host })
}

let config
try {
  config = loadConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(error.message + '\n')
  process.exit(78) // EX_CONFIG
}

try {
  await start(config)
} catch (error) {
  // A start that fails once configured (a database that refuses, a port taken): one line
  // through the logger, whose redaction cuts a URL's password out of the error, which Node
  // itself would print whole (a URL parser's error carries the URL).
  createLogger(config, pino.destination({ dest: 1, sync: true })).fatal({ err: error }, `start-up failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
