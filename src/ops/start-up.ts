import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import { maskPhone } from '../domain/phone.js'
import { systemClock } from '../services/clock.js'
import { deriveKeys } from '../services/keys.js'
import { createSigningKeys, type SigningKeyOptions } from '../services/signing-keys.js'
import { createDatabase, type DatabaseOptions, type Db } from '../store/database.js'
import { migrateToLatest } from '../store/migrator.js'

/** Where GET /metrics answers: with a token, to anyone, or (production without either) nowhere. */
export type MetricsExposure = 'token' | 'public' | 'off'

export function metricsExposure (config: Pick<Config, 'nodeEnv' | 'metricsToken' | 'metricsPublic'>): MetricsExposure {
  if (config.metricsToken !== undefined) return 'token'
  return config.nodeEnv !== 'production' || config.metricsPublic ? 'public' : 'off'
}

/** The console provider writes codes and full phones to the log outside production, or when the operator says so. */
export function consoleRevealsCodes (config: Pick<Config, 'nodeEnv' | 'smsConsoleInProduction'>): boolean {
  return config.nodeEnv !== 'production' || config.smsConsoleInProduction
}

/**
 * Lines at start-up for what an operator must know about this configuration: where metrics
 * are, and, in production, a console SMS provider and test numbers, which anyone reading the
 * log or knowing the number could use.
 */
export function announceConfiguration (config: Config, log: FastifyBaseLogger): void {
  const exposure = metricsExposure(config)
  if (exposure === 'token') log.info({ metrics: '/metrics', access: 'bearer METRICS_TOKEN' }, 'metrics at GET /metrics, with the METRICS_TOKEN bearer token')
  else if (exposure === 'off') log.info({ metrics: 'off' }, 'metrics off: GET /metrics answers 404 in production without METRICS_TOKEN (or METRICS_PUBLIC=true)')
  else if (config.nodeEnv === 'production') log.warn({ metrics: '/metrics', access: 'anyone' }, 'metrics at GET /metrics, open to anyone who reaches the service (METRICS_PUBLIC=true): keep it from the internet at the proxy')
  else log.info({ metrics: '/metrics', access: 'anyone' }, 'metrics at GET /metrics, open (not production)')

  if (config.nodeEnv !== 'production') return
  if (config.sms.provider === 'console') {
    if (config.smsConsoleInProduction) {
      log.warn({ sms: 'console', alert: 'codes_in_log' }, 'DEMO ONLY: SMS_PROVIDER=console with SMS_CONSOLE_IN_PRODUCTION=true: no SMS is sent; every code and full phone number is written to this log, where anyone who reads it can sign in as anyone')
    } else {
      log.warn({ sms: 'console' }, 'SMS_PROVIDER=console in production: no SMS is sent and no code is logged, so only TEST_PHONE_NUMBERS can sign in. Set SMS_PROVIDER=webhook or twilio (or SMS_CONSOLE_IN_PRODUCTION=true for a demo)')
    }
  }
  if (config.testPhoneNumbers.size > 0) {
    const phones = [...config.testPhoneNumbers.keys()].map(maskPhone)
    log.warn({ testPhoneNumbers: phones.length, phones }, `TEST_PHONE_NUMBERS in production: ${phones.length} number(s) sign in with a fixed code and no SMS; whoever knows one has its account. Empty it outside review and demos`)
  }
}

/** The database settings the configuration gives; `poolSize` for a connection that does little. */
export function databaseOptions (config: Config, poolSize = config.databasePoolSize): DatabaseOptions {
  return {
    postgresPoolSize: poolSize,
    pgSslMode: config.pgSslMode,
    lockTimeoutMs: config.databaseLockTimeoutMs,
    postgresStatementTimeoutMs: config.databaseStatementTimeoutMs
  }
}

export function signingKeyOptions (config: Config): SigningKeyOptions {
  return { ...config.jwt, accessTokenTtlSeconds: config.accessTokenTtlSeconds }
}

/** What every start does once before it serves: the migrations (under the migrator's lock), then the lines above. */
export async function migrateAndAnnounce (config: Config, db: Db, log: FastifyBaseLogger): Promise<void> {
  const applied = await migrateToLatest(db)
  if (applied.length > 0) log.info({ migrations: applied }, 'database migrated')
  announceConfiguration(config, log)
}

/**
 * The cluster primary's work before it starts any worker (ops/cluster.ts): the migrations and
 * the start-up lines once, and a signing key in use, so that workers starting together neither
 * migrate nor make a first key at the same moment (each would be safe, under the migrator's
 * lock and the key's unique generation, but done once it is also said once in the log).
 */
export async function prepareDatabase (config: Config, log: FastifyBaseLogger): Promise<void> {
  const db = createDatabase(config.databaseUrl, databaseOptions(config, 1))
  try {
    await migrateAndAnnounce(config, db, log)
    await createSigningKeys({ db, clock: systemClock, keys: deriveKeys(config.secrets), logger: log }, signingKeyOptions(config)).start()
  } finally {
    await db.destroy()
  }
}
