import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client'
import { DomainError } from '../domain/errors.js'
import { countryOfPhone } from '../domain/phone.js'
import type { SmsSender } from '../sms/sms-sender.js'

/**
 * The app's Prometheus metrics. Each app has its own Registry (not prom-client's global one),
 * so a test can build many apps and read each one's counts.
 */
export interface Metrics {
  readonly registry: Registry
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>
  readonly smsSent: Counter<'provider'>
  readonly smsFailed: Counter<'provider'>
  readonly smsDuration: Histogram<'provider' | 'outcome'>
  readonly signIns: Counter<'kind' | 'created' | 'method'>
  readonly refusals: Counter<'code'>
  readonly webhookDeliveries: Counter<'result'>
  /** Codes handed to the provider, by the country of the number (ISO 3166, never a prefix: bounded). */
  readonly codesSent: Counter<'country'>
  /** Messages a code went out in, by channel (sms, whatsapp, voice), country and outcome (sent, failed): issue 25. */
  readonly channelMessages: Counter<'channel' | 'country' | 'outcome'>
  /** Receipts that settled a message, by channel, country and fate (delivered, undelivered); the rate is delivered / sent. */
  readonly channelReceipts: Counter<'channel' | 'country' | 'status'>
}

export function createMetrics (): Metrics {
  const registry = new Registry()
  // Node defaults: CPU, memory, handles, GC, and event loop lag (nodejs_eventloop_lag_*).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 })
  const registers = [registry]
  return {
    registry,
    httpDuration: new Histogram({
      name: 'phonepass_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    }),
    smsSent: new Counter({ name: 'phonepass_sms_sent_total', help: 'Codes handed to the SMS provider', labelNames: ['provider'], registers }),
    smsFailed: new Counter({ name: 'phonepass_sms_failed_total', help: 'Codes the SMS provider did not take', labelNames: ['provider'], registers }),
    smsDuration: new Histogram({
      name: 'phonepass_sms_provider_duration_seconds',
      help: 'Time the SMS provider took to answer, by outcome (sent, failed)',
      labelNames: ['provider', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers
    }),
    signIns: new Counter({ name: 'phonepass_sign_ins_total', help: 'Successful sign-ins by session kind (web, api), whether the account was created, and the method (phone, passkey)', labelNames: ['kind', 'created', 'method'], registers }),
    refusals: new Counter({ name: 'phonepass_refusals_total', help: 'Requests refused, by error code', labelNames: ['code'], registers }),
    webhookDeliveries: new Counter({ name: 'phonepass_webhook_deliveries_total', help: 'Webhook attempts by result: delivered, retried (will try again), failed (no tries left)', labelNames: ['result'], registers }),
    codesSent: new Counter({
      name: 'phonepass_codes_sent_total',
      help: 'Codes handed to the SMS provider, by the number\'s country (ISO 3166 code; +<calling code> for a number of no country, unknown when unreadable)',
      labelNames: ['country'],
      registers
    }),
    channelMessages: new Counter({
      name: 'phonepass_channel_messages_total',
      help: 'Messages a code went out in, by channel, the number\'s country and outcome (sent: the provider took it; failed: refused or no answer, the next channel is tried)',
      labelNames: ['channel', 'country', 'outcome'],
      registers
    }),
    channelReceipts: new Counter({
      name: 'phonepass_channel_receipts_total',
      help: 'Delivery receipts that settled a message, by channel, country and status (delivered, undelivered); delivery rate = delivered / sent',
      labelNames: ['channel', 'country', 'status'],
      registers
    })
  }
}

/**
 * Counts and times every send, whichever provider is configured; codes (not notices, which
 * carry no code) also by country, for the fraud guard's operators (issue 23).
 */
export function instrumentSmsSender (sender: SmsSender, metrics: Metrics): SmsSender {
  const labels: LabelValues<'provider'> = { provider: sender.name }
  return {
    ...sender,
    name: sender.name,
    async send (message) {
      const stop = metrics.smsDuration.startTimer(labels)
      let sent
      try {
        sent = await sender.send(message)
      } catch (error) {
        stop({ outcome: 'failed' })
        metrics.smsFailed.inc(labels)
        throw error
      }
      stop({ outcome: 'sent' })
      metrics.smsSent.inc(labels)
      if (message.code !== '') metrics.codesSent.inc({ country: countryOfPhone(message.to) })
      return sent
    }
  }
}

export interface WebhookBacklog {
  pending: number
  failed: number
  oldestPendingAt: number | null
}

/**
 * The outbox's state, read from the database at each scrape (so every instance reports the
 * shared backlog): events by status, and the age of the oldest pending one (0 when none).
 */
export function watchWebhookBacklog (metrics: Metrics, read: () => Promise<WebhookBacklog>, now: () => number): void {
  const registers = [metrics.registry]
  let latest: Promise<WebhookBacklog | undefined> | undefined
  // Both gauges are collected in one scrape: one query serves them. A database that cannot
  // answer leaves the gauges as they were: the rest of the scrape still answers.
  const readOnce = async (): Promise<WebhookBacklog | undefined> => {
    latest ??= read().catch(() => undefined).finally(() => { setTimeout(() => { latest = undefined }, 0).unref() })
    return await latest
  }
  new Gauge({
    name: 'phonepass_webhook_events',
    help: 'Webhook events waiting to be sent (pending) or given up (failed), all instances',
    labelNames: ['status'],
    registers,
    // Every worker of a cluster reads the same table: their sum would count each event once per worker.
    aggregator: 'max',
    async collect () {
      const backlog = await readOnce()
      if (backlog === undefined) return
      this.set({ status: 'pending' }, backlog.pending)
      this.set({ status: 'failed' }, backlog.failed)
    }
  })
  new Gauge({
    name: 'phonepass_webhook_oldest_pending_seconds',
    help: 'Age of the oldest webhook event not yet delivered (0 when none is pending)',
    registers,
    aggregator: 'max',
    async collect () {
      const backlog = await readOnce()
      if (backlog === undefined) return
      this.set(backlog.oldestPendingAt === null ? 0 : Math.max(0, (now() - backlog.oldestPendingAt) / 1000))
    }
  })
}

type AnyFunction = (...args: never[]) => unknown

/**
 * Wraps a service so each DomainError it throws is counted by code; both faces call the
 * same services, so pages and the API are counted alike. Sync members stay sync.
 */
export function countRefusals<S extends object> (service: S, metrics: Metrics): S {
  const count = (error: unknown): never => {
    if (error instanceof DomainError) metrics.refusals.inc({ code: error.code })
    throw error
  }
  const wrapped: Record<string, unknown> = {}
  for (const [name, member] of Object.entries(service)) {
    if (typeof member !== 'function') {
      wrapped[name] = member
      continue
    }
    const fn = member as AnyFunction
    wrapped[name] = (...args: never[]) => {
      let result: unknown
      try {
        result = fn(...args)
      } catch (error) {
        return count(error)
      }
      return result instanceof Promise ? result.catch(count) : result
    }
  }
  return wrapped as S
}

export interface MetricsOptions {
  metrics: Metrics
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  token: string | undefined
  /** False: no GET /metrics at all (404), the requests are still timed (see metricsExposure). */
  exposed: boolean
  /** The exposition text; the app's own registry's when not given. */
  scrape?: (() => Promise<string>) | undefined
}

/** The per-request histogram and GET /metrics, added to the root app so every route is timed. */
export function installMetrics (app: FastifyInstance, { metrics, token, exposed, scrape = async () => await metrics.registry.metrics() }: MetricsOptions): void {
  // prom-client hashes the label set on every observe; the set per route and status is
  // fixed, so its child is looked up once (the map is bounded by routes × methods × statuses).
  const durationByLabels = new Map<string, ReturnType<typeof metrics.httpDuration.labels>>()
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the raw URL: unmatched paths share one label.
    const route = request.routeOptions.url ?? 'unmatched'
    const key = `${request.method} ${route} ${reply.statusCode}`
    let duration = durationByLabels.get(key)
    if (duration === undefined) {
      duration = metrics.httpDuration.labels({ method: request.method, route, status: String(reply.statusCode) })
      durationByLabels.set(key, duration)
    }
    duration.observe(reply.elapsedTime / 1000)
  })
  app.addHook('onError', async (_request, _reply, error) => {
    if ((error as { validation?: unknown }).validation !== undefined) metrics.refusals.inc({ code: 'validation_error' })
  })
  if (!exposed) return
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (token !== undefined && !bearerMatches(request.headers.authorization, token)) {
      return await reply.code(401).header('www-authenticate', 'Bearer').send({ detail: 'A metrics token is needed.', code: 'not_authenticated' })
    }
    return await reply.type(metrics.registry.contentType).send(await scrape())
  })
}

function bearerMatches (header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`)
  const given = Buffer.from(header ?? '')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

interface SignInService {
  verifyCode: (...args: never[]) => Promise<{ created: boolean }>
}

/** Counts successful sign-ins by session kind; the kind is verifyCode's third argument. */
export function countSignIns<S extends SignInService> (auth: S, metrics: Metrics): S {
  const verifyCode = auth.verifyCode
  return {
    ...auth,
    verifyCode: async (...args: Parameters<S['verifyCode']>) => {
      const signedIn = await verifyCode(...args)
      metrics.signIns.inc({ kind: String(args[2]), created: String(signedIn.created), method: 'phone' })
      return signedIn
    }
  }
}

interface PasskeySignInService {
  signIn: (...args: never[]) => Promise<unknown>
}

/** Counts successful passkey sign-ins (method passkey; never a new account); the kind is signIn's second argument. */
export function countPasskeySignIns<S extends PasskeySignInService> (passkeys: S, metrics: Metrics): S {
  const signIn = passkeys.signIn
  return {
    ...passkeys,
    signIn: async (...args: Parameters<S['signIn']>) => {
      const signedIn = await signIn(...args)
      metrics.signIns.inc({ kind: String(args[1]), created: 'false', method: 'passkey' })
      return signedIn
    }
  }
}
