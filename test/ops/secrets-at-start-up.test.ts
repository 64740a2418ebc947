import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { buildDist, childEnv } from '../helpers/build.js'

// Issue 22, on the built server as the image starts it: a start-up that fails shows no
// password of DATABASE_URL, and production refuses demo and guessable secrets.
t.setTimeout(600_000)

const built = buildDist(t)
const main = join(built, 'dist', 'src', 'main.js')
const password = 'S3cret-Passw0rd-of-the-database'

interface Run { status: number | null, stdout: string, stderr: string }

/** Starts the server; resolves with what it printed once it exits, or once stdout shows `until`, when it is stopped. */
async function run (env: Record<string, string>, until?: RegExp): Promise<Run> {
  const child = spawn(process.execPath, [main], { env: childEnv({ PORT: '0', HOST: '127.0.0.1', ...env }), stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    if (until?.test(stdout) === true) child.kill('SIGTERM')
  })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const status = await new Promise<number | null>(resolve => child.once('close', code => resolve(code)))
  return { status, stdout, stderr }
}

async function closedPort (): Promise<number> {
  return await new Promise(resolve => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

const production = { NODE_ENV: 'production', PHONEPASS_SECRET: randomBytes(32).toString('base64'), LOG_LEVEL: 'info' }

t.test('a DATABASE_URL with a password: whatever stops the start, the password is printed nowhere', async t => {
  const port = await closedPort()
  const refused = `postgres://phonepass:${password}@127.0.0.1:${port}/phonepass`
  const cases: Array<[string, Record<string, string>, number, RegExp]> = [
    ['a database that refuses', { DATABASE_URL: refused }, 1, /^\{"level":60,.*"msg":"start-up failed: connect ECONNREFUSED 127\.0\.0\.1:\d+"\}\n$/],
    ['the same under a cluster primary', { DATABASE_URL: refused, WEB_CONCURRENCY: '2' }, 1, /^\{"level":60,.*"msg":"start-up failed: connect ECONNREFUSED 127\.0\.0\.1:\d+"\}\n$/],
    ['a malformed URL', { DATABASE_URL: `postgres://phonepass:${password}@127.0.0.1:port/phonepass` }, 78, /^Invalid configuration: DATABASE_URL must be .*, got "postgres:\/\/phonepass:\*\*\*@127\.0\.0\.1:port\/phonepass"\n$/],
    ['a URL of another database', { DATABASE_URL: `mysql://phonepass:${password}@127.0.0.1/phonepass` }, 78, /^Invalid configuration: DATABASE_URL must be .*, got "mysql:\/\/\*\*\*@127\.0\.0\.1\/phonepass"\n$/]
  ]
  const results = await Promise.all(cases.map(async ([, env]) => await run({ ...production, ...env })))
  for (const [i, [name, , status, line]] of cases.entries()) {
    const result = results[i] as Run
    t.equal(result.status, status, `${name}: exit code`)
    t.match(result.stdout + result.stderr, line, `${name}: one line saying why`)
    t.notMatch(result.stdout + result.stderr, password, `${name}: no password`)
  }
})

t.test('production refuses the Postman demo admin key and guessable secrets, naming the variable, not the value', async t => {
  const demoKey = 'postman-admin-key-0123456789abcdefghijklmnop'
  const cases: Array<[Record<string, string>, string, string]> = [
    [{ PHONEPASS_ADMIN_KEYS: `postman:${demoKey}` }, 'PHONEPASS_ADMIN_KEYS key "postman" is a demo value published with phonepass; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 32`', demoKey],
    [{ PHONEPASS_SECRET: 'a'.repeat(44) }, 'PHONEPASS_SECRET has only 1 different character; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 32`', 'aaaaaaaa'],
    [{ METRICS_TOKEN: '0123456789abcdef' }, 'METRICS_TOKEN is mostly runs of characters such as aaaa, abcd or 4321; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 24`', '0123456789abcdef']
  ]
  const results = await Promise.all(cases.map(async ([env]) => await run({ ...production, DATABASE_URL: 'sqlite::memory:', ...env })))
  for (const [i, [env, line, value]] of cases.entries()) {
    const result = results[i] as Run
    t.equal(result.stderr, `Invalid configuration: ${line}\n`, Object.keys(env).join())
    t.equal(result.status, 78)
    t.equal(result.stdout, '')
    t.notMatch(result.stderr.replace(line.slice(0, 20), ''), value, 'the value is not shown')
  }
})

t.test("outside production the README's Postman set-up still starts with the demo key", async t => {
  const result = await run({
    DATABASE_URL: 'sqlite::memory:', TEST_PHONE_NUMBERS: '+15550100001=1234', PHONEPASS_ADMIN_KEYS: 'postman:postman-admin-key-0123456789abcdefghijklmnop'
  }, /Server listening at/)
  t.match(result.stdout, /Server listening at http:\/\/127\.0\.0\.1:\d+/, result.stderr)
})
