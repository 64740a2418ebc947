import { Writable } from 'node:stream'
import t from 'tap'
import pino from 'pino'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { testSecret } from '../helpers/app.js'
import { request, startInstance } from '../helpers/instance.js'

// What a production instance says at start-up, and what it keeps out of its log.

type Line = Record<string, unknown> & { msg: string, level: number }

async function buildLogged (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string>) {
  const lines: Line[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString()) as Line); done() } })
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'info', ...env })
  const app = await buildApp(config, { logger: pino({ level: 'info' }, stream) })
  t.teardown(async () => { await app.close() })
  return { app, lines }
}

const phone = '+79123456789'
const warn = 40

t.test('the console provider in production: no code and no full phone in the log unless SMS_CONSOLE_IN_PRODUCTION=true, and a warning at start-up', async t => {
  const { app, lines } = await buildLogged(t, { NODE_ENV: 'production', SMS_PROVIDER: 'console' })
  const warning = lines.find(line => line.sms === 'console')
  t.equal(warning?.level, warn)
  t.match(warning?.msg, /^SMS_PROVIDER=console in production: no SMS is sent and no code is logged/)
  const started = lines.length
  const res = await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone } })
  t.equal(res.statusCode, 200)
  const after = lines.slice(started).map(line => JSON.stringify(line))
  t.notOk(after.some(line => line.includes(phone) || line.includes(phone.slice(1))), 'no full phone')
  t.notOk(after.some(line => line.includes('"code"') || /code: \d/.test(line)), 'no code')
  t.ok(after.some(line => line.includes('+7912***6789') && line.includes('SMS not sent and its code not logged')), 'the masked phone, and why no code')
})

t.test('SMS_CONSOLE_IN_PRODUCTION=true: the codes are logged, after a loud line saying so', async t => {
  const { app, lines } = await buildLogged(t, { NODE_ENV: 'production', SMS_PROVIDER: 'console', SMS_CONSOLE_IN_PRODUCTION: 'true' })
  const warning = lines.find(line => line.sms === 'console')
  t.equal(warning?.level, warn)
  t.match(warning?.msg, /^DEMO ONLY: .*every code and full phone number is written to this log/)
  t.equal((await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone } })).statusCode, 200)
  const sms = lines.find(line => line.sms !== undefined && typeof line.sms === 'object')
  t.match(sms?.msg, /^SMS to \+79123456789: Your phonepass code: \d{4}\./)
})

t.test('outside production the console provider logs codes without a warning', async t => {
  const { app, lines } = await buildLogged(t, { NODE_ENV: 'development', SMS_PROVIDER: 'console', TEST_PHONE_NUMBERS: '+15550100001=1234' })
  t.notOk(lines.some(line => line.level >= warn), 'nothing to warn of')
  t.equal((await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone } })).statusCode, 200)
  t.ok(lines.some(line => /^SMS to \+79123456789: Your phonepass code: \d{4}\./.test(line.msg)))
})

t.test('test numbers in production are announced at start-up, masked', async t => {
  const { lines } = await buildLogged(t, {
    NODE_ENV: 'production', SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: 'http://127.0.0.1:9/sms', TEST_PHONE_NUMBERS: '+15550100001=1234,+15550100002=5678'
  })
  const announced = lines.find(line => line.testPhoneNumbers !== undefined)
  t.equal(announced?.level, warn)
  t.equal(announced?.testPhoneNumbers, 2)
  t.same(announced?.phones, ['+1555***0001', '+1555***0002'])
  t.match(announced?.msg, /^TEST_PHONE_NUMBERS in production: 2 number\(s\) sign in with a fixed code and no SMS/)
  t.notOk(lines.some(line => JSON.stringify(line).includes('+15550100001')), 'no full test number')
  t.notOk(lines.some(line => line.sms === 'console'), 'a real provider: no console warning')
})

t.test('a start-up line says where the metrics are', async t => {
  const cases: Array<[Record<string, string>, RegExp, number]> = [
    [{ NODE_ENV: 'production' }, /^metrics off: GET \/metrics answers 404 in production/, 30],
    [{ NODE_ENV: 'production', METRICS_PUBLIC: 'true' }, /^metrics at GET \/metrics, open to anyone/, warn],
    [{ NODE_ENV: 'production', METRICS_TOKEN: 'metrics-token-0123456789' }, /^metrics at GET \/metrics, with the METRICS_TOKEN bearer token/, 30],
    [{ NODE_ENV: 'development' }, /^metrics at GET \/metrics, open \(not production\)/, 30]
  ]
  for (const [env, text, level] of cases) {
    const { lines } = await buildLogged(t, { SMS_CONSOLE_IN_PRODUCTION: 'true', ...env })
    const line = lines.find(line => line.metrics !== undefined)
    t.match(line?.msg, text, JSON.stringify(env))
    t.equal(line?.level, level)
  }
})

t.test('a production process as app.json starts it: what the deployment docs say', async t => {
  const instance = await startInstance(t, {
    NODE_ENV: 'production', DATABASE_URL: 'sqlite::memory:', SMS_PROVIDER: 'console', TEST_PHONE_NUMBERS: '+15550100001=1234', TRUST_PROXY: '1'
  })
  const messages = instance.logs.map(line => String(line.msg))
  t.ok(messages.some(msg => msg.startsWith('metrics off')), 'metrics off, said at start-up')
  t.ok(messages.some(msg => msg.startsWith('SMS_PROVIDER=console in production')), 'the console provider, warned of')
  t.ok(messages.some(msg => msg.startsWith('TEST_PHONE_NUMBERS in production: 1 number(s)')), 'the test number, announced')
  t.equal((await request(`${instance.url}/metrics`, 'GET')).status, 404)

  const host = new URL(instance.url).host
  const crossSite = await fetch(`${instance.url}/api/users/register/`, {
    method: 'POST', body: 'phone=%2B79123456789', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }
  })
  t.equal(crossSite.status, 403)
  t.equal((await crossSite.json() as { code: string }).code, 'cross_site_request')
  const sameSite = await fetch(`${instance.url}/api/users/register/`, {
    method: 'POST', body: 'phone=%2B15550100001', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `http://${host}`, 'sec-fetch-site': 'same-origin' }
  })
  t.equal(sameSite.status, 200, 'this origin itself')

  const real = await request(`${instance.url}/api/users/register/`, 'POST', { phone: '+79123456789' }, { 'x-request-id': '<script>' })
  t.equal(real.status, 200)
  t.not(real.headers.get('x-request-id'), '<script>')
  await instance.stop()
  const all = instance.logs.map(line => JSON.stringify(line)).join('\n')
  t.notOk(all.includes('+79123456789'), 'no full phone in the production log')
  t.notOk(all.includes('<script>'), 'no request id as it came')
})
