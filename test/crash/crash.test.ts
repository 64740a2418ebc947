import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import { Agent, request } from 'undici'
import { buildDist, childEnv } from '../helpers/build.js'
import { startSmsSink } from '../helpers/sms-sink.js'
import { Clients } from './clients.js'
import { Ledger, inspectFile, type FileReport } from './ledger.js'

// The built server on a SQLite file under mixed load from several client loops, killed with
// SIGKILL at random moments and restarted on the same file. After each kill the file is read
// (no server running): it must pass integrity_check, hold no half-written state and keep
// every promise a 2xx made. At the end every row must be explained by a 2xx or by a request
// whose answer was lost, and the API must honour the ledger (newest refresh tokens work,
// logged-out ones do not). CRASH_SEED replays the same kill times and choices.

// A budget for a loaded 2-core machine, not a timing assertion: a run takes 30-70 s.
t.setTimeout(240_000)

const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31))
const kills = Number(process.env.CRASH_KILLS ?? 5)
const clientLoops = 8
const secret = 'crash-test-secret-0123456789-abcdefgh'

/** mulberry32: a small seeded generator, so a failing run can be replayed with its seed. */
function seeded (state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let x = Math.imul(state ^ (state >>> 15), 1 | state)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

async function freePort (): Promise<number> {
  return await new Promise(resolve => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** `node dist/src/main.js` on the same file and port each time, as a supervisor restarts it. */
class Server {
  readonly errorLines: string[] = []
  #child: ChildProcess | undefined
  #exited: Promise<string> = Promise.resolve('not started')
  #stderr = ''

  constructor (readonly main: string, readonly url: string, readonly env: Record<string, string>, readonly agent: Agent) {}

  async start (): Promise<void> {
    const child = spawn(process.execPath, [this.main], { env: childEnv(this.env), stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    let exited = false
    this.#exited = new Promise(resolve => child.once('exit', (code, signal) => { exited = true; resolve(signal ?? String(code)) }))
    // LOG_LEVEL=warn: an error line (level 50 and up) means a request failed unexpectedly.
    createInterface({ input: child.stdout! }).on('line', line => {
      try {
        if (((JSON.parse(line) as { level?: number }).level ?? 0) >= 50) this.errorLines.push(line)
      } catch {
        this.errorLines.push(line)
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => { this.#stderr += chunk.toString() })
    for (let i = 0; ; i++) {
      if (exited) throw new Error(`the server exited while starting: ${this.#stderr}`)
      try {
        const response = await request(`${this.url}/readyz`, { dispatcher: this.agent })
        await response.body.dump()
        if (response.statusCode === 200) return
      } catch {
        // not listening yet
      }
      if (i > 1200) throw new Error('the server did not become ready in 60 s')
      await sleep(50)
    }
  }

  async kill (): Promise<string> {
    this.#child?.kill('SIGKILL')
    return await this.#exited
  }

  async stop (): Promise<string> {
    this.#child?.kill('SIGTERM')
    return await this.#exited
  }
}

t.test('kill -9 under mixed load keeps every answered request and a sound file', async t => {
  const started = Date.now()
  const random = seeded(seed)
  const built = buildDist(t)
  const builtIn = (Date.now() - started) / 1000
  const dir = mkdtempSync(join(tmpdir(), 'phonepass-crash-'))
  const file = join(dir, 'phonepass.db')
  const sms = await startSmsSink()
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: clientLoops * 2 })
  t.teardown(async () => { await agent.close(); await sms.close(); rmSync(dir, { recursive: true, force: true }) })
  const port = await freePort()
  const server = new Server(join(built, 'dist', 'src', 'main.js'), `http://127.0.0.1:${port}`, {
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    PHONEPASS_SECRET: secret,
    DATABASE_URL: `sqlite:${file}`,
    SMS_PROVIDER: 'webhook',
    SMS_WEBHOOK_URL: sms.url,
    LOG_LEVEL: 'warn',
    // One client address signs in hundreds of phones, some more than once, some again right
    // after a lost answer: the per-address and per-phone send limits and the resend cooldown
    // are lifted (test/api/send-limits.test.ts checks them).
    LIMIT_CODES_PER_IP_HOUR: '1000000',
    LIMIT_WRONG_CODES_PER_IP_HOUR: '1000000',
    LIMIT_CODES_PER_PHONE_HOUR: '1000',
    LIMIT_CODES_PER_PHONE_DAY: '10000',
    SMS_HOURLY_CAP: '10000000',
    OTP_RESEND_SECONDS: '0'
  }, agent)
  t.teardown(async () => { await server.kill() })

  const ledger = new Ledger()
  const clients = new Clients(server.url, ledger, sms, agent, random)
  function checkFile (what: string, report: FileReport): void {
    t.equal(report.integrity, 'ok', `${what}: PRAGMA integrity_check`)
    t.equal(report.foreignKeyProblems, 0, `${what}: PRAGMA foreign_key_check finds nothing`)
    t.same(report.halfWritten, Object.fromEntries(Object.keys(report.halfWritten).map(name => [name, 0])), `${what}: no half-written state`)
    t.same(report.problems.slice(0, 20), [], `${what}: the file keeps every promise (${report.problems.length} problems)`)
  }

  await server.start()
  const load = clients.run(clientLoops)
  const crashes: Array<Record<string, unknown>> = []
  for (let kill = 1; kill <= kills; kill++) {
    await sleep(750 + random() * 2000)
    const inFlight = clients.inFlight
    clients.gate.close()
    t.equal(await server.kill(), 'SIGKILL', `kill ${kill}: the server died of SIGKILL`)
    const report = inspectFile(file, ledger, false)
    checkFile(`kill ${kill}`, report)
    const restarting = Date.now()
    await server.start()
    crashes.push({ kill, requestsInFlight: inFlight, ...report.counts, restartSeconds: (Date.now() - restarting) / 1000 })
    clients.gate.open()
  }
  // Load on the last restart too, then each loop finishes what it is doing.
  await sleep(1500)
  await load.stop()

  const outcomes = await clients.checkSessions(clientLoops)
  t.equal(await server.stop(), '0', 'the last server stops cleanly on SIGTERM')
  const final = inspectFile(file, ledger, true)
  checkFile('after the last stop', final)

  const { stats, problems } = clients
  t.same(problems.slice(0, 20), [], `every answer matched the ledger (${problems.length} problems)`)
  t.same(server.errorLines.slice(0, 5), [], 'the server logged no error')
  t.ok(stats.lost > 0, 'kills swallowed answers, so unknown outcomes were exercised')
  t.ok(ledger.usersInOrder.length > 0 && ledger.rotations > 0 && stats.activations > 0 && stats.logouts > 0, 'every kind of write was answered')
  t.equal(outcomes.refreshed + outcomes.refused + outcomes.unknown, ledger.sessions.length, 'every session was checked')
  t.ok(outcomes.refreshed > 0 && outcomes.refused > 0, 'live and logged-out sessions were both checked')
  t.comment(`seed ${seed}, ${kills} kills in ${((Date.now() - started) / 1000).toFixed(1)} s (build ${builtIn.toFixed(1)} s): ${stats.requests} requests, ${stats.answers} answered, ${stats.lost} answers lost, ${stats.refused} refused while down`)
  t.comment(`ledger: ${ledger.usersInOrder.length} users (${ledger.unknownPhones.size} more unknown), ${ledger.sessions.length} sessions (${ledger.lostSignIns} sign-ins lost), ${stats.activations} activations, ${ledger.rotations} rotations (${ledger.lostRotations} lost), ${stats.logouts} logouts`)
  t.comment(`final API check: ${outcomes.refreshed} refreshed, ${outcomes.refused} logged-out refused, ${outcomes.unknown} unknown; file: ${JSON.stringify(final.counts)}`)
  t.comment(`at the kills: ${JSON.stringify(crashes)}`)
})
