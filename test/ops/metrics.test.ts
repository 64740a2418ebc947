import t, { type Test } from 'tap'
import { buildTestApp, post, signIn, testSecret } from '../helpers/app.js'

/** The value of one sample line, e.g. sample(text, 'phonepass_sign_ins_total{kind="api",created="true",method="phone"}'). */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(series + ' '))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** Each series has the expected value in the exposition text. */
function expectSamples (t: Test, text: string, expected: Record<string, number>): void {
  for (const [series, value] of Object.entries(expected)) t.equal(sample(text, series), value, series)
}

t.test('a sign-in shows in the metrics, by provider, kind, route and status', async t => {
  const context = await buildTestApp(t)
  await signIn(context, '+79123456789')
  const wrong = await post(context.app, '/api/users/verify_code/', { phone: '+79123456789', auth_code: '0000' })
  t.equal(wrong.statusCode, 400)
  const invalid = await post(context.app, '/api/users/register/', {})
  t.equal(invalid.statusCode, 400)

  const response = await context.app.inject({ method: 'GET', url: '/metrics' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain/)
  const text = response.body
  for (const name of [
    'phonepass_http_request_duration_seconds', 'phonepass_sms_sent_total', 'phonepass_sms_failed_total',
    'phonepass_sms_provider_duration_seconds', 'phonepass_sign_ins_total', 'phonepass_refusals_total',
    'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'process_cpu_seconds_total',
    'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_gc_duration_seconds'
  ]) {
    t.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name)
  }
  expectSamples(t, text, {
    'phonepass_sms_sent_total{provider="webhook"}': 1,
    'phonepass_sms_provider_duration_seconds_count{provider="webhook",outcome="sent"}': 1,
    'phonepass_sign_ins_total{kind="api",created="true",method="phone"}': 1,
    'phonepass_refusals_total{code="code_not_found"}': 1,
    'phonepass_refusals_total{code="validation_error"}': 1,
    'phonepass_http_request_duration_seconds_count{method="POST",route="/api/users/verify_code/",status="200"}': 1,
    'phonepass_http_request_duration_seconds_count{method="POST",route="/api/users/verify_code/",status="400"}': 1,
    'phonepass_http_request_duration_seconds_count{method="POST",route="/api/users/register/",status="200"}': 1
  })
})

t.test('a wrong code and a failed SMS are counted', async t => {
  const context = await buildTestApp(t)
  await post(context.app, '/api/users/register/', { phone: '+79123456789' })
  const code = context.sms.lastCode('+79123456789')
  const wrong = code === '0000' ? '1111' : '0000'
  await post(context.app, '/api/users/verify_code/', { phone: '+79123456789', auth_code: wrong })
  context.sms.behave((_message, response) => { response.writeHead(500).end() })
  const failed = await post(context.app, '/api/users/register/', { phone: '+79123456780' })
  t.equal(failed.statusCode, 503)
  const text = (await context.app.inject({ method: 'GET', url: '/metrics' })).body
  expectSamples(t, text, {
    'phonepass_refusals_total{code="code_invalid"}': 1,
    'phonepass_refusals_total{code="sms_unavailable"}': 1,
    'phonepass_sms_failed_total{provider="webhook"}': 1,
    'phonepass_sms_sent_total{provider="webhook"}': 1,
    'phonepass_sms_provider_duration_seconds_count{provider="webhook",outcome="failed"}': 1
  })
})

t.test('each app counts for itself', async t => {
  const first = await buildTestApp(t)
  const second = await buildTestApp(t)
  await signIn(first, '+79123456789')
  const text = (await second.app.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(text, 'phonepass_sign_ins_total{kind="api",created="true",method="phone"}'), undefined)
  t.equal(sample((await first.app.inject({ method: 'GET', url: '/metrics' })).body, 'phonepass_sign_ins_total{kind="api",created="true",method="phone"}'), 1)
})

t.test('METRICS_TOKEN protects /metrics', async t => {
  const token = 'metrics-token-0123456789'
  const { app } = await buildTestApp(t, { METRICS_TOKEN: token, PHONEPASS_SECRET: testSecret })
  const anonymous = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.headers['www-authenticate'], 'Bearer')
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode, 401)
  const allowed = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })
  t.equal(allowed.statusCode, 200)
  t.match(allowed.body, /phonepass_sign_ins_total/)
})

t.test('in production /metrics is not public unless the operator says so', async t => {
  const hidden = await buildTestApp(t, { NODE_ENV: 'production' })
  await signIn(hidden, '+79123456789')
  const refused = await hidden.app.inject({ method: 'GET', url: '/metrics' })
  t.equal(refused.statusCode, 404, 'no token, not public: nothing there')
  t.notMatch(refused.body, /phonepass_sign_ins_total/)

  const open = await buildTestApp(t, { NODE_ENV: 'production', METRICS_PUBLIC: 'true' })
  const answered = await open.app.inject({ method: 'GET', url: '/metrics' })
  t.equal(answered.statusCode, 200, 'METRICS_PUBLIC=true: open')
  t.match(answered.body, /phonepass_http_request_duration_seconds/)

  const token = 'metrics-token-0123456789'
  const guarded = await buildTestApp(t, { NODE_ENV: 'production', METRICS_TOKEN: token })
  t.equal((await guarded.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401)
  t.equal((await guarded.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
})

t.test('codes sent are counted by the number\'s country, never by prefix; the fraud guard\'s refusals by code', async t => {
  const context = await buildTestApp(t, { FRAUD_GUARD: 'enforce', LIMIT_CODES_PER_IP_HOUR: '10000' })
  await signIn(context, '+79123456789')
  await post(context.app, '/api/users/register/', { phone: '+79123456780' })
  await post(context.app, '/api/users/register/', { phone: '+4915112345678' })
  // Ten numbers of one prefix, none entered: the eleventh is asked for a challenge, not sent.
  for (let i = 0; i < 11; i++) await post(context.app, '/api/users/register/', { phone: `+44791112${String(1000 + i * 37)}` })
  const text = (await context.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(text, /^# TYPE phonepass_codes_sent_total counter$/m)
  expectSamples(t, text, {
    'phonepass_codes_sent_total{country="RU"}': 2,
    'phonepass_codes_sent_total{country="DE"}': 1,
    'phonepass_codes_sent_total{country="GG"}': 10,
    'phonepass_refusals_total{code="challenge_required"}': 1
  })
  t.notMatch(text, /phonepass_codes_sent_total\{[^}]*\+44/, 'no prefix in a label')
})
