import { SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api'
import type { SmsSender } from '../sms/sms-sender.js'

// phonepass's own spans (SQLite statements, the SMS provider call, webhook deliveries, the
// outbox dispatcher). Until tracing is started (ops/tracing.ts) `recording` is false and these
// helpers call straight through: no span object, no context switch, so tracing off costs a
// boolean test. No attribute may carry a phone, code or token: callers pass only names, SQL
// text with placeholders, counts and statuses.

let recording = false

/** Turned on by startTracing, once a tracer provider is registered. */
export function recordSpans (): void {
  recording = true
}

export function spansRecorded (): boolean {
  return recording
}

const tracer = () => trace.getTracer('phonepass')

function ended (span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? { name: error.name, message: error.message } : String(error))
  span.setStatus({ code: SpanStatusCode.ERROR })
}

/** Runs `work` in a span named `name` (a child of the active span), when tracing is on. */
export async function inSpan<T> (name: string, attributes: Attributes, work: (span: Span | undefined) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  if (!recording) return await work(undefined)
  return await tracer().startActiveSpan(name, { kind, attributes }, async span => {
    try {
      return await work(span)
    } catch (error) {
      ended(span, error)
      throw error
    } finally {
      span.end()
    }
  })
}

/** A synchronous call (a better-sqlite3 statement) in a span, when tracing is on. */
export function inSyncSpan<T> (name: string, attributes: Attributes, work: () => T): T {
  if (!recording) return work()
  const span = tracer().startSpan(name, { kind: SpanKind.CLIENT, attributes })
  try {
    return work()
  } catch (error) {
    ended(span, error)
    throw error
  } finally {
    span.end()
  }
}

/** The active trace's ids for a log line (pino's mixin), or nothing outside a trace. */
export function traceIdsForLog (): { trace_id?: string, span_id?: string } {
  const context = trace.getActiveSpan()?.spanContext()
  if (context === undefined || !trace.isSpanContextValid(context)) return {}
  return { trace_id: context.traceId, span_id: context.spanId }
}

/** The SMS provider's call in a span: the provider's name only, never the number or the text. */
export function traceSmsSender (sender: SmsSender): SmsSender {
  return {
    ...sender,
    name: sender.name,
    // The sender's answer (the provider's message id) goes back: delivery receipts find the message by it.
    send: async message => await inSpan('sms send', { 'phonepass.sms.provider': sender.name }, async () => await sender.send(message))
  }
}
