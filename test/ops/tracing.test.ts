import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import t from 'tap'
import { openTestDatabase, testDatabaseKind } from '../helpers/database.js'
import { request, startInstance, waitForLogs } from '../helpers/instance.js'
import { startSmsSink } from '../helpers/sms-sink.js'
import { tracesExporterOf } from '../../src/ops/traces-setting.js'
import { sanitizedAttributes } from '../../src/ops/tracing.js'

// OPERATIONS.md "Traces": with OTEL_EXPORTER_OTLP_ENDPOINT set, one sign-in's spans reach an
// OTLP/HTTP receiver (protobuf, decoded with the OpenTelemetry project's generated protobuf
// classes), in one tree under the caller's traceparent, with the traceparent passed on to the
// SMS provider; no span carries the phone, the code or a token.

interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  attributes: Record<string, unknown>
  /** Everything the span carries, as text: its name, attributes and events. */
  text: string
}

interface OtlpRequest {
  resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ traceId: Uint8Array, spanId: Uint8Array, parentSpanId: Uint8Array, name: string, kind: number, attributes: Array<{ key: string, value: Record<string, unknown> }>, events: unknown[] }> }> }>
}
const { opentelemetry } = createRequire(import.meta.url)('otlp-protobufs/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: { decode: (body: Uint8Array) => { toJSON: () => unknown }, toObject: (message: unknown, options: object) => OtlpRequest } } } } } }
}
const ExportTraceServiceRequest = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

async function startOtlpReceiver (): Promise<{ url: string, spans: ReceivedSpan[], contentTypes: string[], close: () => Promise<void> }> {
  const spans: ReceivedSpan[] = []
  const contentTypes: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      contentTypes.push(String(req.headers['content-type']))
      const decoded = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(Buffer.concat(chunks)), { defaults: true, arrays: true, longs: String })
      for (const resource of decoded.resourceSpans) {
        for (const scope of resource.scopeSpans) {
          for (const span of scope.spans) {
            const attributes = Object.fromEntries(span.attributes.map(({ key, value }) => [key, Object.values(value).find(v => v !== null && v !== '' && v !== undefined)]))
            spans.push({ traceId: hex(span.traceId), spanId: hex(span.spanId), parentSpanId: hex(span.parentSpanId), name: span.name, kind: span.kind, attributes, text: JSON.stringify([span.name, span.attributes, span.events]) })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, spans, contentTypes, close: async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) } }
}

t.test('one sign-in: its span tree at an OTLP receiver, traceparent to the SMS provider, no phone, code or token', async t => {
  const receiver = await startOtlpReceiver()
  t.teardown(receiver.close)
  const sink = await startSmsSink()
  t.teardown(sink.close)
  const database = await openTestDatabase({ shared: true })
  t.teardown(database.drop)
  const instance = await startInstance(t, {
    DATABASE_URL: database.url,
    SMS_PROVIDER: 'webhook',
    // A provider's URL may carry a key in its query: it must not reach a span.
    SMS_WEBHOOK_URL: `${sink.url}?key=provider-key-in-query`,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_SERVICE_NAME: 'phonepass-test'
  })

  const phone = '+79161234567'
  const callerTrace = '0af7651916cd43dd8448eb211c80319c'
  const callerSpan = 'b7ad6b7169203331'
  const traceparent = `00-${callerTrace}-${callerSpan}-01`
  const registered = await request(`${instance.url}/api/users/register/`, 'POST', { phone }, { traceparent })
  t.equal(registered.status, 200)
  const code = sink.lastCode(phone)
  const verified = await request(`${instance.url}/api/users/verify_code/?next=${encodeURIComponent(phone)}`, 'POST', { phone, auth_code: code }, { traceparent })
  t.equal(verified.status, 200)
  const { access, refresh } = verified.body as { access: string, refresh: string }
  const me = await request(`${instance.url}/api/users/me/`, 'GET', undefined, { authorization: `Bearer ${access}` })
  t.equal(me.status, 200)

  // Every span is exported by the time the process has ended on SIGTERM (the last batch is flushed).
  await instance.stop()
  t.equal(await instance.exited, 0, 'SIGTERM: exit code 0')
  t.ok(receiver.contentTypes.every(type => type === 'application/x-protobuf'), 'OTLP/HTTP with protobuf bodies')

  const inTrace = receiver.spans.filter(span => span.traceId === callerTrace)
  const requestSpans = inTrace.filter(span => span.name === 'request')
  const registerSpan = requestSpans.find(span => span.attributes['http.route'] === '/api/users/register/')
  t.ok(registerSpan, 'the register request has a span in the caller\'s trace')
  t.equal(registerSpan?.parentSpanId, callerSpan, 'its parent is the caller\'s span (traceparent taken)')
  t.equal(registerSpan?.kind, 2, 'a server span')
  t.equal(Number(registerSpan?.attributes['http.response.status_code']), 200, 'status 200')
  const verifySpan = requestSpans.find(span => span.attributes['http.route'] === '/api/users/verify_code/')
  t.equal(verifySpan?.attributes['url.path'], '/api/users/verify_code/', 'the path without its query string')

  const byId = new Map(inTrace.map(span => [span.spanId, span]))
  const under = (span: ReceivedSpan, ancestor: ReceivedSpan): boolean => {
    for (let parent = byId.get(span.parentSpanId); parent !== undefined; parent = byId.get(parent.parentSpanId)) if (parent === ancestor) return true
    return false
  }
  // SQLite: phonepass's own span per statement; PostgreSQL: the pg instrumentation's (older names).
  const system = testDatabaseKind === 'sqlite' ? 'sqlite' : 'postgresql'
  const sqlOf = (span: ReceivedSpan): unknown => span.attributes['db.query.text'] ?? span.attributes['db.statement']
  const statements = inTrace.filter(span => registerSpan !== undefined && under(span, registerSpan) && (span.attributes['db.system.name'] ?? span.attributes['db.system']) === system && sqlOf(span) !== undefined)
  t.ok(statements.length >= 3, `the register's statements (${system}) are its descendants, each with its SQL text (${statements.length})`)
  t.ok(statements.some(span => /^insert/i.test(String(sqlOf(span)))), 'the code\'s insert among them')
  const smsSpan = inTrace.find(span => span.name === 'sms send' && registerSpan !== undefined && under(span, registerSpan))
  t.ok(smsSpan, 'the SMS provider call is a span under the register request')
  t.equal(smsSpan?.attributes['phonepass.sms.provider'], 'webhook')
  const httpSpan = inTrace.find(span => smsSpan !== undefined && span.parentSpanId === smsSpan.spanId && span.kind === 3)
  t.ok(httpSpan, 'the provider\'s HTTP call is a client span under it')
  t.equal(httpSpan?.attributes['url.full'], sink.url, 'its URL without the query string')
  t.equal(sink.headers[0]?.traceparent, `00-${callerTrace}-${httpSpan?.spanId ?? ''}-01`, 'the SMS stand-in received traceparent naming that client span')

  // No span, in any trace, carries the phone (whole or its national part), the code or a token.
  const secrets = [phone, phone.slice(2), code, access, refresh, access.split('.')[2]!, 'provider-key-in-query']
  for (const secret of secrets) {
    t.notOk(receiver.spans.some(span => span.text.includes(secret)), `no span carries ${secret === code ? 'the code' : secret.slice(0, 12)}`)
  }
  // A code is short: only in an attribute standing on its own would it be found, so look for that too.
  t.notOk(receiver.spans.some(span => Object.values(span.attributes).some(value => String(value) === code)), 'no attribute is the code')

  // The trace id is in the request's log line.
  const lines = await waitForLogs(instance, entry => entry.msg === 'request' && entry.url === '/api/users/register/')
  t.equal(lines[0]?.trace_id, callerTrace, 'the request\'s log line carries its trace id')
})

t.test('traces are on only when the OTEL_* variables ask for them', async t => {
  t.equal(tracesExporterOf({}), undefined, 'nothing set: off (and none of the SDK is loaded)')
  t.equal(tracesExporterOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), 'otlp')
  t.equal(tracesExporterOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), 'otlp')
  t.equal(tracesExporterOf({ OTEL_TRACES_EXPORTER: 'otlp' }), 'otlp')
  t.equal(tracesExporterOf({ OTEL_TRACES_EXPORTER: 'console' }), 'console')
  t.equal(tracesExporterOf({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), undefined)
  t.equal(tracesExporterOf({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), undefined)
})

t.test('a span\'s URL attributes leave without their query string or credentials', async t => {
  t.same(sanitizedAttributes({
    'url.full': 'https://user:pass@sms.example.com/send?key=abc&to=%2B79161234567',
    'url.query': '?key=abc',
    'url.path': '/login/code?next=/profile',
    'http.route': '/api/users/register/'
  }), { 'url.full': 'https://sms.example.com/send', 'url.path': '/login/code', 'http.route': '/api/users/register/' })
})
