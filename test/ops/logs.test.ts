import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createLogger, loggerOptions } from '../../src/logger.js'
import { createConsoleSender } from '../../src/sms/console-sender.js'
import type { RandomInt } from '../../src/domain/codes.js'
import { bearer, manualClock, post, testSecret } from '../helpers/app.js'
import { startSmsSink } from '../helpers/sms-sink.js'

interface LogCapture {
  logger: ReturnType<typeof createLogger>
  lines: string[]
}

/** The app's own pino settings (redaction included), writing into an array. */
function captureLogs (): LogCapture {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(line => line !== ''))
      done()
    }
  })
  return { logger: createLogger({ logLevel: 'trace' }, stream), lines }
}

/** Draws that cycle through `values`: the code and invite code are then the same on every run. */
function cyclingRandom (values: number[]): RandomInt {
  let next = 0
  return (maxExclusive) => (values[next++ % values.length] ?? 0) % maxExclusive
}

async function buildLoggedApp (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> = {}) {
  const sms = await startSmsSink()
  const capture = captureLogs()
  const config = loadConfig({
    NODE_ENV: 'test', DATABASE_URL: 'sqlite::memory:', PHONEPASS_SECRET: testSecret,
    SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: sms.url, LOG_LEVEL: 'trace', ...env
  })
  const clock = manualClock()
  const app = await buildApp(config, { clock, logger: capture.logger, random: cyclingRandom([5, 0, 9, 3]) })
  t.teardown(async () => { await app.close(); await sms.close() })
  return { app, sms, clock, lines: capture.lines }
}

const phone = '+79123456789'

t.test("a sign-in's log lines hold no code, token, cookie or full phone", async t => {
  const { app, sms, lines } = await buildLoggedApp(t)
  await post(app, '/api/users/register/', { phone })
  const code = sms.lastCode(phone)
  const verified = await post(app, '/api/users/verify_code/', { phone, auth_code: code })
  t.equal(verified.statusCode, 200)
  const { access, refresh } = verified.json<{ access: string, refresh: string }>()
  const me = await app.inject({ method: 'GET', url: '/api/users/me/', headers: { ...bearer(access), cookie: 'session=cookie-secret-value' } })
  t.equal(me.statusCode, 200)
  const refreshed = await post(app, '/api/token/refresh/', { refresh })
  t.equal(refreshed.statusCode, 200)
  await post(app, '/api/users/logout/', { refresh: refreshed.json<{ refresh: string }>().refresh })

  t.ok(lines.length >= 6, `${lines.length} lines`)
  t.equal(code, '5093', 'the code the cycling draws make')
  const all = lines.join('\n')
  // Times, durations and the process's id and host are measured, not chosen: their digits may
  // hold any four in a row, so the code is looked for as a number of its own everywhere else.
  const measuredFields = new Set(['time', 'responseTime', 'pid', 'hostname'])
  const chosenFields = lines.map(line => JSON.stringify(JSON.parse(line), (key, value: unknown) => measuredFields.has(key) ? undefined : value)).join('\n')
  t.notOk(new RegExp(`(?<!\\d)${code}(?!\\d)`).test(chosenFields), 'no code in the logs')
  for (const [what, secret] of [['access token', access], ['refresh token', refresh], ['full phone', phone], ['phone digits', phone.slice(1)], ['cookie', 'cookie-secret-value']] as const) {
    t.notOk(all.includes(secret), `no ${what} in the logs`)
  }
  t.notOk(/"auth_code"\s*:\s*"\d/.test(all))
  const requests = lines.map(line => JSON.parse(line) as Record<string, unknown>).filter(line => line.msg === 'request')
  t.equal(requests.length, 5, 'one line per request')
  t.ok(requests.every(line => typeof line.reqId === 'string' && typeof line.status === 'number'))
  t.ok(lines.some(line => line.includes('+7912***6789')), 'the phone appears masked')
})

t.test('log lines name a session by the first 8 characters of its id, never the whole id', async t => {
  const { app, sms, clock, lines } = await buildLoggedApp(t)
  await post(app, '/api/users/register/', { phone })
  const verified = await post(app, '/api/users/verify_code/', { phone, auth_code: sms.lastCode(phone) })
  const { refresh } = verified.json<{ refresh: string }>()
  t.equal((await post(app, '/api/token/refresh/', { refresh })).statusCode, 200)
  t.equal((await post(app, '/api/token/refresh/', { refresh })).statusCode, 401, 'spent, within the grace')
  clock.advance(60_000)
  t.equal((await post(app, '/api/token/refresh/', { refresh })).statusCode, 401, 'spent, later: the session ends')
  const [session] = await app.db.selectFrom('sessions').select('id').execute()
  const sessionId = session?.id ?? ''
  t.equal(sessionId.length, 32)
  const named = lines.map(line => JSON.parse(line) as { msg: string, session?: string }).filter(line => line.session !== undefined)
  t.same(named.map(line => line.msg), [
    'signed in',
    'spent refresh token presented again within the grace: refused, session kept',
    'spent refresh token presented again: session revoked'
  ])
  t.ok(named.every(line => line.session === sessionId.slice(0, 8)), 'named by its first 8 characters')
  t.notOk(lines.join('\n').includes(sessionId.slice(0, 12)), 'not more of it anywhere')
})

t.test('the console provider writes its one deliberate line with the code', async t => {
  const capture = captureLogs()
  await createConsoleSender(capture.logger).send({ to: phone, code: '4321', body: 'Your code: 4321' })
  t.equal(capture.lines.length, 1)
  t.match(capture.lines[0], /4321/)
})

t.test('X-Request-Id is honoured, or made, and returned', async t => {
  const { app, lines } = await buildLoggedApp(t)
  const given = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'trace-abc-123' } })
  t.equal(given.headers['x-request-id'], 'trace-abc-123')
  const made = await app.inject({ method: 'GET', url: '/healthz' })
  t.type(made.headers['x-request-id'], 'string')
  t.not(made.headers['x-request-id'], 'trace-abc-123')
  const ids = lines.map(line => JSON.parse(line) as { msg: string, reqId?: string }).filter(line => line.msg === 'request').map(line => line.reqId)
  t.same(ids, ['trace-abc-123', made.headers['x-request-id']])
})

t.test('X-Request-Id from outside only when short and plain: a long or odd one is replaced, not echoed or logged', async t => {
  const { app, lines } = await buildLoggedApp(t)
  const uuid = '0b7c4a52-8f0e-4c1e-9d7a-3f2b1c0d9e8f'
  const longest = 'a'.repeat(64)
  const kept = []
  for (const id of [uuid, longest, 'trace.id:7_x-1']) {
    const answered = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': id } })
    t.equal(answered.headers['x-request-id'], id, `kept: ${id.slice(0, 20)}`)
    kept.push(id)
  }
  const refused = ['x'.repeat(8 * 1024), '<script>alert(1)</script>', 'a'.repeat(65), 'two words', 'a/../b', 'a,b']
  for (const id of refused) {
    const answered = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': id } })
    const made = answered.headers['x-request-id']
    t.type(made, 'string')
    t.not(made, id, `replaced: ${id.slice(0, 20)}`)
    t.match(made, /^req-[0-9a-z]+$/, 'one of ours')
  }
  const all = lines.join('\n')
  t.notOk(all.includes('<script>'), 'no markup in the log')
  t.notOk(all.includes('x'.repeat(100)), 'no 8 KB id in the log')
  t.notOk(all.includes('a'.repeat(65)), 'no over-long id in the log')
  const ids = lines.map(line => JSON.parse(line) as { msg: string, reqId?: string }).filter(line => line.msg === 'request').map(line => line.reqId)
  t.same(ids.slice(0, 3), kept)
})

t.test('pretty output only in development; production writes JSON', async t => {
  t.equal(loggerOptions({ logLevel: 'info', nodeEnv: 'production' }).transport, undefined)
  t.equal(loggerOptions({ logLevel: 'info', nodeEnv: 'test' }).transport, undefined)
  t.match(loggerOptions({ logLevel: 'info', nodeEnv: 'development' }).transport, { target: 'pino-pretty' })
})

t.test('headers, tokens and codes in logged objects are redacted', async t => {
  const { logger, lines } = captureLogs()
  logger.info({ req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'session=xyz' } }, body: { auth_code: '5678', refresh: 'rrr', access: 'aaa' } }, 'x')
  t.notMatch(lines[0], /abc\.def|session=xyz|5678|"rrr"|"aaa"/)
  t.match(lines[0], /\[redacted\]/)
})

t.test("a URL's password is cut out of every log line: the message, an error's message, stack and fields, any value", async t => {
  const { logger, lines } = captureLogs()
  const password = 'S3cret-Passw0rd'
  const url = `postgres://phonepass:${password}@db.internal:5432/phonepass`
  let parseError: unknown
  try { new URL(`postgres://phonepass:${password}@db.internal:port/phonepass`) } catch (error) { parseError = error }
  logger.error({ err: parseError }, 'start-up failed')
  logger.error({ err: new Error(`could not connect to ${url}`) })
  logger.warn({ error: `POST https://hooks:${password}@crm.example/in failed`, nested: { url } }, `retrying ${url}`)
  logger.info({ sms: `https://${password}@sms.example/send` }, 'a token as the whole user info')
  t.equal(lines.length, 4)
  for (const [i, line] of lines.entries()) t.notMatch(line, password, `line ${i + 1}`)
  t.match(lines[0], /"input":"postgres:\/\/phonepass:\*\*\*@db\.internal:port\/phonepass"/, "the URL parser's error keeps its shape")
  t.match(lines[1], /"message":"could not connect to postgres:\/\/phonepass:\*\*\*@db\.internal:5432\/phonepass"/)
  t.match(lines[1], /"msg":"could not connect to postgres:\/\/phonepass:\*\*\*@db\.internal/)
  t.match(lines[2], /https:\/\/\*\*\*@crm\.example\/in/, 'an http URL loses its user too')
  t.match(lines[3], /"sms":"https:\/\/\*\*\*@sms\.example\/send"/)
  logger.info({ url: '/api/users/register/', who: 'someone@example.com', at: 'file:///app/node_modules/@fastify/x.js' }, 'request')
  t.match(lines[4], /"who":"someone@example.com","at":"file:\/\/\/app\/node_modules\/@fastify\/x.js"/, 'no URL with user info: unchanged')
})
