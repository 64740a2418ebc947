import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildDist, childEnv } from '../helpers/build.js'
import { startSmsSink } from '../helpers/sms-sink.js'

// Compiling and starting child processes takes minutes on a loaded 2-core machine: a budget
// for this file, not a timing assertion.
t.setTimeout(600_000)

// The built server, started as `node dist/src/main.js` the way the image starts it.
const built = buildDist(t)
const main = join(built, 'dist', 'src', 'main.js')
const secret = 'process-test-secret-0123456789-abcdef'

/** Starts the server, expecting it to refuse; resolves with what it printed and its exit code. */
async function startRefused (env: Record<string, string>): Promise<{ status: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [main], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const status = await new Promise<number | null>(resolve => child.once('close', code => resolve(code)))
  return { status, stdout, stderr }
}

t.test('a wrong configuration stops start-up with one line naming the variable', async t => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ NODE_ENV: 'production' }, 'Invalid configuration: PHONEPASS_SECRET is required when NODE_ENV=production (at least 32 characters, e.g. from `openssl rand -base64 32`)'],
    [{ DATABASE_URL: 'mysql://db/phonepass' }, 'Invalid configuration: DATABASE_URL must be sqlite:<file>, sqlite::memory: or postgres://user:password@host:port/database, got "mysql://db/phonepass"'],
    [{ PORT: 'abc' }, 'Invalid configuration: PORT must be a port number from 0 to 65535, got "abc"'],
    [{ PORT: '70000' }, 'Invalid configuration: PORT must be a port number from 0 to 65535, got "70000"'],
    [{ OTP_LENGTH: '12' }, 'Invalid configuration: OTP_LENGTH must be a whole number of digits from 4 to 8, got "12"'],
    [{ TEST_PHONE_NUMBERS: '+15550100001=12' }, 'Invalid configuration: TEST_PHONE_NUMBERS must be a comma-separated list of +E164=code pairs, e.g. +15550100001=1234, got "+15550100001=12"'],
    [{ PHONEPASS_SECRET: 'short' }, 'Invalid configuration: PHONEPASS_SECRET must be at least 32 characters (a comma-separated list when rotating: the first signs, all verify), got (hidden)'],
    [{ METRICS_TOKEN: 'short' }, 'Invalid configuration: METRICS_TOKEN must be at least 16 characters; GET /metrics then needs Authorization: Bearer <token>, got (hidden)']
  ]
  const results = await Promise.all(cases.map(async ([env]) => await startRefused({ DATABASE_URL: 'sqlite::memory:', ...env })))
  for (const [i, [env, line]] of cases.entries()) {
    const result = results[i] as Awaited<ReturnType<typeof startRefused>>
    t.equal(result.stderr, line + '\n', Object.keys(env).join())
    t.equal(result.status, 78)
    t.equal(result.stdout, '')
  }
})

async function freePort (): Promise<number> {
  return await new Promise(resolve => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

t.test('SIGTERM lets a request in flight finish, then exits 0', async t => {
  const sms = await startSmsSink()
  const dir = mkdtempSync(join(tmpdir(), 'phonepass-shutdown-'))
  t.teardown(async () => { await sms.close(); rmSync(dir, { recursive: true, force: true }) })
  let answerSms: (() => void) | undefined
  sms.behave((_message, response) => {
    answerSms = () => response.writeHead(202, { 'content-type': 'application/json' }).end('{}')
  })
  const port = await freePort()
  const child = spawn(process.execPath, [main], {
    env: childEnv({
      NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', PHONEPASS_SECRET: secret,
      DATABASE_URL: `sqlite:${join(dir, 'phonepass.db')}`, SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: sms.url, LOG_LEVEL: 'warn'
    }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  const base = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base + '/healthz')).ok) break
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error('the server did not start')
    await new Promise(resolve => setTimeout(resolve, 50))
  }

  // The SMS provider holds the request open, so it is in flight when SIGTERM arrives.
  const inFlight = fetch(base + '/api/users/register/', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone: '+79123456789' })
  })
  while (answerSms === undefined) await new Promise(resolve => setTimeout(resolve, 20))
  child.kill('SIGTERM')
  // New connections are refused once the server has stopped listening.
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(base + '/healthz', { headers: { connection: 'close' } })
    } catch {
      break
    }
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  answerSms()
  const response = await inFlight
  t.equal(response.status, 200, 'the request in flight was answered')
  t.equal((await response.json() as { phone: string }).phone, '+79123456789')
  t.equal(await exited, 0, `exits 0 ${output}`.trim())
})

t.test('the bin shim runs the built CLI: `npx phonepass migrate` on a fresh file', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'phonepass-bin-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const env = childEnv({ DATABASE_URL: `sqlite:${join(dir, 'phonepass.db')}`, PHONEPASS_SECRET: secret })
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(built, 'bin', 'phonepass.js'), ...args], { env, encoding: 'utf8', timeout: 30_000 })
  t.match(cli('migrate'), { status: 0, stdout: 'Up 0001_initial\n', stderr: '' })
  t.match(cli('migrate', '--json'), { status: 0, stdout: '{\n  "applied": []\n}\n' })
  t.match(cli('user', 'show', '+79123456789'), { status: 1, stderr: 'phonepass: no user with phone +79123456789\n' })
})
