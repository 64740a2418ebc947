import type { FastifyPluginCallback } from 'fastify'
import type { Attributes } from '@opentelemetry/api'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-node'
import { recordSpans } from './spans.js'
import type { TracesExporter } from './traces-setting.js'

// OpenTelemetry traces, on when the standard variables ask for them (docs/OPERATIONS.md,
// "Traces"). Everything here is imported only then: with tracing off none of the SDK is loaded
// and phonepass's own spans (ops/spans.ts) are not made.

export interface Tracing {
  /** Registered first in buildApp: a span per request, the caller's traceparent taken. */
  plugin: FastifyPluginCallback
  /** Sends what is left and stops (after the app has closed). */
  shutdown: () => Promise<void>
}

// Attributes that may hold a URL or a query string, whose query (a phone, a token) and
// credentials are cut off before a span leaves the process.
const urlAttributes = ['url.full', 'url.path', 'http.url', 'http.target', 'db.connection_string']

function withoutQuery (value: string): string {
  const cut = value.split(/[?#]/, 1)[0]!
  return cut.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1')
}

/** The span's attributes as they may leave: no query string, no URL credentials, no url.query. */
export function sanitizedAttributes (attributes: Attributes): Attributes {
  const clean: Attributes = { ...attributes }
  delete clean['url.query']
  for (const key of urlAttributes) {
    const value = clean[key]
    if (typeof value === 'string') clean[key] = withoutQuery(value)
  }
  return clean
}

/** Every span passes here on its way out, whichever instrumentation made it. */
function sanitizing (exporter: SpanExporter): SpanExporter {
  return {
    export: (spans, done) => {
      exporter.export(spans.map(span => Object.assign(Object.create(span) as ReadableSpan, { attributes: sanitizedAttributes(span.attributes) })), done)
    },
    shutdown: async () => { await exporter.shutdown() },
    forceFlush: async () => { await exporter.forceFlush?.() }
  }
}

async function createExporter (kind: TracesExporter, env: NodeJS.ProcessEnv): Promise<SpanExporter> {
  if (kind === 'console') return new (await import('@opentelemetry/sdk-trace-node')).ConsoleSpanExporter()
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf'
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter()
  if (protocol !== 'http/protobuf') throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: phonepass sends http/protobuf or http/json`)
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter()
}

/**
 * Starts the tracer provider (W3C traceparent, the OTEL_* sampler, resource and exporter
 * settings), the undici instrumentation (the SMS provider's and webhooks' calls, with
 * traceparent sent along) and the pg one (PostgreSQL statements, text only). Must run before
 * the database is opened: pg is patched when it is first required.
 */
export async function startTracing (kind: TracesExporter, env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  const [{ NodeTracerProvider, BatchSpanProcessor, SimpleSpanProcessor }, { resourceFromAttributes, envDetector, detectResources, defaultResource }, { registerInstrumentations }, { UndiciInstrumentation }, { PgInstrumentation }, { FastifyOtelInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/instrumentation'),
    import('@opentelemetry/instrumentation-undici'),
    import('@opentelemetry/instrumentation-pg'),
    import('@fastify/otel')
  ])
  const exporter = sanitizing(await createExporter(kind, env))
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'phonepass' }))
    .merge(detectResources({ detectors: [envDetector] }))
  const provider = new NodeTracerProvider({
    resource,
    // The console exporter is for a look by hand: each span at once.
    spanProcessors: [kind === 'console' ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)]
  })
  provider.register()
  const fastifyOtel = new FastifyOtelInstrumentation({
    // No span per hook: the request, its handler and what they call are what a reader follows.
    instrumentHooks: false,
    // The route's path without its query string (which may carry a `next` path or a phone).
    requestHook: (span, request) => { span.setAttribute('url.path', request.url.split('?', 1)[0]!) }
  })
  fastifyOtel.setTracerProvider(provider)
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new UndiciInstrumentation(),
      // Statement text only (placeholders, no values), and only inside a trace.
      new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true })
    ]
  })
  recordSpans()
  return {
    plugin: fastifyOtel.plugin(),
    shutdown: async () => {
      unregister()
      await provider.shutdown()
    }
  }
}
