import type { FastifyBaseLogger } from 'fastify'
import { Agent, request } from 'undici'
import type { Config, WebhookEventType, WebhooksConfig } from '../config.js'
import { newMessageId, signWebhook, webhookKey } from '../domain/webhook-signature.js'
import type { Db, DbOrTransaction } from '../store/database.js'
import {
  anyEventDue, claimDueEvents, insertWebhookEvent, readBacklog, recordAttempt, type Backlog
} from '../store/outbox.js'
import type { WebhookEventRow } from '../store/schema.js'
import { inSpan } from '../ops/spans.js'
import type { Clock } from './clock.js'

/**
 * What each event's `data` holds, named as the API names them. The account-lifecycle events
 * (deleted, phone changed, blocked, unblocked) are defined here and in the OpenAPI document;
 * the services that make those changes call `record` with them.
 */
export interface WebhookEventData {
  'user.created': { id: number, phone: string, invite_code: string }
  'user.signed_in': { id: number, phone: string, kind: 'api' | 'web', method: 'phone' | 'passkey' }
  'invite.activated': { id: number, phone: string, activated_invite_code: string, inviter_id: number }
  'user.deleted': { id: number, phone: string }
  'user.phone_changed': { id: number, phone: string, previous_phone: string }
  'user.blocked': { id: number, phone: string }
  'user.unblocked': { id: number, phone: string }
  'fraud.destination_suspect': { destination: string, kind: 'prefix' | 'country', reason: string }
  'passkey.added': { id: number, phone: string, passkey: { id: string, name: string, device_type: string } }
  'passkey.removed': { id: number, phone: string, passkey: { id: string, name: string }, by: 'user' | 'admin' }
}

/**
 * When the next attempt is due after attempt n (1-based) fails, as Svix retries: the first at
 * once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. After the eighth the event is failed.
 */
export const retryDelaysMs: readonly number[] = [5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000, 10 * 3_600_000]
export const maxAttempts = retryDelaysMs.length + 1

/**
 * Writes events into the outbox, in the caller's transaction: the event exists exactly when
 * the change it reports was committed. Nothing is written when WEBHOOK_URL is not set or the
 * type is not in WEBHOOK_EVENTS.
 */
export function createEventRecorder ({ config, clock }: { config: Config, clock: Clock }) {
  async function record<T extends WebhookEventType> (trx: DbOrTransaction, type: T, data: WebhookEventData[T]): Promise<void> {
    if (config.webhooks === undefined || !config.webhooks.events.has(type)) return
    const now = clock.now()
    const payload = JSON.stringify({ type, timestamp: new Date(now).toISOString(), data })
    await insertWebhookEvent(trx, { msgId: newMessageId(), type, userId: 'id' in data ? data.id : null, payload, createdAt: now })
  }
  return { record }
}

export type EventRecorder = ReturnType<typeof createEventRecorder>

export type AttemptResult = 'delivered' | 'retried' | 'failed'

export interface DispatcherDeps {
  db: Db
  webhooks: WebhooksConfig
  clock: Clock
  logger: FastifyBaseLogger
  /** Called after each attempt with its result (the deliveries metric). */
  onAttempt?: (result: AttemptResult) => void
}

export interface RoundReport {
  claimed: number
  delivered: number
  retried: number
  failed: number
}

const batchSize = 32
const pollIntervalMs = 500
const housekeepingIntervalMs = 60_000
const alertEveryMs = 15 * 60_000

/**
 * Sends the outbox's events to WEBHOOK_URL, outside requests. Each instance runs one; they
 * share the work through the claim's lease (store/outbox.ts), so no event is sent by two at
 * once. `deliverDue` is one round; `start` repeats it on a timer.
 */
export function createWebhookDispatcher ({ db, webhooks, clock, logger, onAttempt }: DispatcherDeps) {
  const keys = webhooks.secrets.map(webhookKey)
  const timeoutMs = webhooks.timeoutMs
  // Longer than any attempt can take (the deadline below bounds it), so a lease never runs out
  // while its attempt is still in flight; it runs out only when the instance died.
  const leaseMs = 2 * timeoutMs + 5_000
  // Aborts the attempts in flight when the instance shuts down, so a hanging receiver does not
  // hold the shutdown for WEBHOOK_TIMEOUT_MS; they are recorded as failed attempts and retried.
  const stopping = new AbortController()
  const agent = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 10_000 })

  async function send (event: WebhookEventRow): Promise<{ status: number | null, error: string | null }> {
    const headers = signWebhook(keys, event.msg_id, Math.floor(clock.now() / 1000), event.payload)
    // One deadline for the whole call, as the SMS webhook has (undici's own are per phase).
    const deadline = AbortSignal.timeout(timeoutMs)
    const signal = AbortSignal.any([deadline, stopping.signal])
    try {
      const response = await request(webhooks.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'phonepass-webhooks', ...headers },
        body: event.payload,
        dispatcher: agent,
        signal
      })
      await response.body.dump({ limit: 64 * 1024, signal }).catch(() => {})
      const ok = response.statusCode >= 200 && response.statusCode < 300
      return { status: response.statusCode, error: ok ? null : `answered ${response.statusCode}` }
    } catch (error) {
      const reason = stopping.signal.aborted ? 'the instance was shutting down' : deadline.aborted ? `no answer in ${timeoutMs} ms` : (error as Error).message
      return { status: null, error: reason }
    }
  }

  async function deliver (event: WebhookEventRow, startedAt: number): Promise<AttemptResult | undefined> {
    // The receiver's call is a child of this span (undici's, with traceparent), its record one too.
    return await inSpan('webhook deliver', { 'phonepass.webhook.type': event.type, 'phonepass.webhook.attempt': event.attempts }, async span => {
      const result = await deliverOnce(event, startedAt)
      span?.setAttribute('phonepass.webhook.result', result ?? 'unrecorded')
      return result
    })
  }

  async function deliverOnce (event: WebhookEventRow, startedAt: number): Promise<AttemptResult | undefined> {
    const { status, error } = await send(event)
    const delivered = error === null
    const delay = retryDelaysMs[event.attempts - 1]
    const nextAttemptAt = delivered || delay === undefined ? undefined : startedAt + delay
    const result: AttemptResult = delivered ? 'delivered' : nextAttemptAt === undefined ? 'failed' : 'retried'
    const line = { webhookId: event.msg_id, type: event.type, attempt: event.attempts, status, result }
    let written: boolean
    try {
      written = await recordAttempt(db, event.id, event.attempts, { status, error, nextAttemptAt, delivered }, clock.now())
    } catch (recordError) {
      // The database failed us: the lease runs out and the event is sent again (at least once).
      logger.warn({ ...line, err: recordError }, 'webhook attempt outcome not recorded: the database is unavailable')
      return undefined
    }
    if (!written) {
      // The lease ran out and another instance took the event: its outcome counts, not ours.
      logger.warn(line, 'webhook attempt outcome not recorded: the lease had run out')
      return undefined
    }
    onAttempt?.(result)
    if (result === 'delivered') logger.info(line, 'webhook delivered')
    else if (result === 'retried') logger.warn({ ...line, error, nextAttemptAt: new Date(nextAttemptAt ?? 0).toISOString() }, 'webhook not delivered; will retry')
    else logger.error({ ...line, error }, 'webhook failed after the last retry')
    return result
  }

  /** One round: claims the events due now and makes one attempt at each, in parallel. */
  async function deliverDue (limit = batchSize): Promise<RoundReport> {
    const now = clock.now()
    if (!await anyEventDue(db, now)) return { claimed: 0, delivered: 0, retried: 0, failed: 0 }
    // A span only for a round that has work: an idle poll every second would be noise.
    return await inSpan('webhooks dispatch', {}, async span => {
      const events = await claimDueEvents(db, now, now + leaseMs, limit)
      const results = await Promise.all(events.map(async event => await deliver(event, now)))
      const report = {
        claimed: events.length,
        delivered: results.filter(r => r === 'delivered').length,
        retried: results.filter(r => r === 'retried').length,
        failed: results.filter(r => r === 'failed').length
      }
      span?.setAttributes({ 'phonepass.webhooks.claimed': report.claimed, 'phonepass.webhooks.delivered': report.delivered })
      return report
    })
  }

  async function backlog (): Promise<Backlog> {
    return await readBacklog(db)
  }

  let lastAlertAt: number | undefined
  /** Writes the alert line when the oldest pending event is older than the threshold (at most every 15 min per instance). */
  async function checkBacklog (): Promise<boolean> {
    const now = clock.now()
    const { pending, oldestPendingAt } = await readBacklog(db)
    if (oldestPendingAt === null || now - oldestPendingAt < webhooks.backlogAlertSeconds * 1000) return false
    if (lastAlertAt !== undefined && now - lastAlertAt < alertEveryMs) return false
    lastAlertAt = now
    logger.error({ alert: 'webhook_backlog', pending, oldestPendingSeconds: Math.round((now - oldestPendingAt) / 1000), thresholdSeconds: webhooks.backlogAlertSeconds },
      'ALERT: webhook events are waiting longer than WEBHOOK_BACKLOG_ALERT_SECONDS')
    return true
  }

  let stopped = true
  let timer: NodeJS.Timeout | undefined
  let housekeeping: NodeJS.Timeout | undefined
  let round: Promise<void> = Promise.resolve()

  function schedule (ms: number): void {
    if (stopped) return
    timer = setTimeout(() => { round = tick() }, ms)
    timer.unref()
  }

  async function tick (): Promise<void> {
    try {
      const report = await deliverDue()
      // A full batch: more may be due, go on at once.
      schedule(report.claimed === batchSize ? 0 : pollIntervalMs)
    } catch (error) {
      logger.warn({ err: error }, 'webhook round failed; trying again')
      schedule(pollIntervalMs * 4)
    }
  }

  function start (): void {
    if (!stopped) return
    stopped = false
    schedule(0)
    housekeeping = setInterval(() => {
      // Delivered events are deleted by the retention sweep (services/retention.ts), in batches.
      checkBacklog().catch((error: unknown) => { logger.warn({ err: error }, 'webhook housekeeping failed') })
    }, housekeepingIntervalMs).unref()
  }

  /** Stops the timer, cuts the attempts in flight short (they record their outcome), closes the agent. */
  async function stop (): Promise<void> {
    stopped = true
    clearTimeout(timer)
    clearInterval(housekeeping)
    stopping.abort()
    await round
    await agent.close()
  }

  return { deliverDue, backlog, checkBacklog, start, stop }
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>
