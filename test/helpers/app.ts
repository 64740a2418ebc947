import { Writable } from 'node:stream'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import pino from 'pino'
import { buildApp, type AppDeps } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { openTestDatabase } from './database.js'
import { startSmsSink, type SmsSink } from './sms-sink.js'

export const testSecret = 'test-secret-that-is-long-enough-0123456789'

export interface ManualClock {
  now: () => number
  advance: (ms: number) => void
}

export function manualClock (start = Date.UTC(2026, 0, 1)): ManualClock {
  let current = start
  return { now: () => current, advance: (ms) => { current += ms } }
}

export interface TestContext {
  app: FastifyInstance
  sms: SmsSink
  clock: ManualClock
  config: Config
}

interface Tap {
  teardown: (fn: () => unknown) => void
}

/**
 * An app on a fresh database (in-memory SQLite, or its own PostgreSQL schema in the
 * PostgreSQL pass: see database.ts), its SMS going through the real webhook
 * provider to a local HTTP sink, and a clock the test moves.
 */
export async function buildTestApp (t: Tap, env: Record<string, string> = {}, deps: AppDeps = {}): Promise<TestContext> {
  // The database first: if it cannot be had, no sink is left listening (a test that hangs, not fails).
  const database = await openTestDatabase()
  const sms = await startSmsSink()
  const clock = manualClock()
  let config: Config
  let app: FastifyInstance
  try {
    config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: database.url,
      DATABASE_POOL_SIZE: '8',
      PHONEPASS_SECRET: testSecret,
      SMS_PROVIDER: 'webhook',
      SMS_WEBHOOK_URL: sms.url,
      // Generous: on a loaded machine a process's first request can take over a second. A test
      // of the timeout itself sets a short one.
      SMS_TIMEOUT_MS: '10000',
      LOG_LEVEL: 'silent',
      TEST_PHONE_NUMBERS: '+15550100001=1234',
      // The suites of the other rules send bursts of codes to one range (+7 912 345 …) and enter
      // few of them at once: the very pattern the fraud guard holds back. Each tests its own
      // rule; the guard's tests turn it on (FRAUD_GUARD=enforce, the production default), here
      // and in the servers the tests start (instance.ts).
      FRAUD_GUARD: 'off',
      ...env
    })
    app = await buildApp(config, { clock, ...deps })
  } catch (error) {
    await sms.close()
    await database.drop()
    throw error
  }
  t.teardown(async () => {
    await app.close()
    await sms.close()
    await database.drop()
  })
  return { app, sms, clock, config }
}

/**
 * An app whose changes are written to the outbox (WEBHOOK_URL set) with the dispatcher off:
 * the test reads the events from the table. The per-IP limits are lifted, since every request
 * of a test comes from one address.
 */
export async function buildRecordingApp (t: Tap, env: Record<string, string> = {}): Promise<TestContext> {
  return await buildTestApp(t, {
    WEBHOOK_URL: 'http://127.0.0.1:9/unused',
    WEBHOOK_SECRET: 'whsec_' + Buffer.alloc(32, 7).toString('base64'),
    LIMIT_CODES_PER_IP_HOUR: '10000',
    LIMIT_WRONG_CODES_PER_IP_HOUR: '10000',
    ...env
  }, { dispatchWebhooks: false })
}

export async function post (app: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers })
}

export interface SignedIn {
  access: string
  refresh: string
  user: { id: number, phone: string, invite_code: string, activated_invite_code: string | null, users_invited: string[] }
}

/** register → code from the SMS sink → verify, as an app does. */
export async function signIn (context: TestContext, phone: string): Promise<SignedIn> {
  const registered = await post(context.app, '/api/users/register/', { phone })
  if (registered.statusCode !== 200) throw new Error(`register answered ${registered.statusCode}: ${registered.body}`)
  const e164 = registered.json<{ phone: string }>().phone
  const verified = await post(context.app, '/api/users/verify_code/', { phone, auth_code: context.sms.lastCode(e164) })
  if (verified.statusCode !== 200) throw new Error(`verify answered ${verified.statusCode}: ${verified.body}`)
  return verified.json<SignedIn>()
}

export function bearer (token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

/**
 * Apps on one database, one after the other or side by side (a restart, a new secret or
 * algorithm, instances of one deployment), on one clock the test moves; closed with the test.
 * `phone` is a test number whose code is 1234. `logLines` collects an app's log lines.
 */
export async function appsOnOneDatabase (t: Tap, phone: string) {
  const database = await openTestDatabase({ shared: true })
  const clock = manualClock()
  const apps: FastifyInstance[] = []
  t.teardown(async () => {
    for (const app of apps) await app.close()
    await database.drop()
  })
  const env = (extra: Record<string, string> = {}) => ({
    NODE_ENV: 'test', DATABASE_URL: database.url, DATABASE_POOL_SIZE: '4', PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'silent', TEST_PHONE_NUMBERS: `${phone}=1234`, ...extra
  })
  async function appWith (extra: Record<string, string> = {}, logLines?: string[]): Promise<FastifyInstance> {
    const logger = logLines === undefined
      ? undefined
      : pino({ level: 'info' }, new Writable({ write (chunk, _encoding, done) { logLines.push(String(chunk)); done() } }))
    const app = await buildApp(loadConfig(env(extra)), { clock, ...(logger === undefined ? {} : { logger }) })
    apps.push(app)
    return app
  }
  async function close (app: FastifyInstance): Promise<void> {
    apps.splice(apps.indexOf(app), 1)
    await app.close()
  }
  return { appWith, close, clock, env }
}

/** A sign-in of a test number with the fixed code 1234: the token pair. */
export async function signInFixed (app: FastifyInstance, phone: string): Promise<{ access: string, refresh: string }> {
  await post(app, '/api/users/register/', { phone })
  const res = await post(app, '/api/users/verify_code/', { phone, auth_code: '1234' })
  if (res.statusCode !== 200) throw new Error(`verify answered ${res.statusCode}: ${res.body}`)
  return res.json()
}
