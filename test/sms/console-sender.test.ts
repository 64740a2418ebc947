import { Writable } from 'node:stream'
import t from 'tap'
import pino from 'pino'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { testSecret } from '../helpers/app.js'

t.test('the console provider logs the code in one deliberate line', async t => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() } })
  const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'info' })
  const app = await buildApp(config, { logger: pino({ level: 'info' }, stream) })
  t.teardown(async () => { await app.close() })
  const res = await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123456789' } })
  t.equal(res.statusCode, 200)
  const smsLines = lines.filter(line => line.sms !== undefined)
  t.equal(smsLines.length, 1)
  const code = (smsLines[0]?.sms as { code: string }).code
  t.match(code, /^\d{4}$/)
  t.match(smsLines[0]?.msg, new RegExp(`^SMS to \\+79123456789: Your phonepass code: ${code}\\.`))
  const verified = await app.inject({ method: 'POST', url: '/api/users/verify_code/', payload: { phone: '+79123456789', auth_code: code } })
  t.equal(verified.statusCode, 200, 'the logged code signs in')
  const others = lines.filter(line => line.sms === undefined).map(line => JSON.stringify(line))
  t.notOk(others.some(line => line.includes(code) && line.includes('+79123456789')), 'no other line carries the code with the phone')
  t.notOk(others.some(line => line.includes('+79123456789')), 'no other line carries the full phone')
})
