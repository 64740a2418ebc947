import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import autocannon from 'autocannon'
import { signAssertion, type SeededPasskey } from './passkeys.js'

/**
 * One load run, in its own process so the load does not share a core's event loop with the
 * server. Reads its job from the JSON file named on the command line; prints one JSON result.
 */
export interface LoadJob {
  kind: 'me' | 'register' | 'patch' | 'refresh' | 'get' | 'signin' | 'rotate' | 'passkey-signin'
  url: string
  path: string
  seconds: number
  connections: number
  /** me / patch / get: Authorization or Cookie values, used in turn; patch and refresh use each once. */
  pool?: string[]
  /** register, signin: first phone number index, so rounds never repeat a phone. */
  phoneOffset?: number
  /**
   * register, signin: numbers +79<space><7 digits> taken in a scrambled order, so they fall in
   * many prefixes as real traffic does, not in one block of 10,000 (10–99; each load process its own).
   */
  phoneSpace?: number
  /**
   * register, signin: each phone's requests come from an address of its own (X-Forwarded-For, to
   * a server that trusts the loopback proxy), as people's do, so the per-address counters are
   * not one row that all the load shares.
   */
  spreadAddresses?: boolean
  inviteCode?: string
  sinkUrl?: string
  /** signin against another service: its paths and field names (phonepass's by default). */
  signIn?: { registerPath: string, verifyPath: string, phoneField: string, codeField: string }
  /** passkey-signin: the seeded passkeys (bench/passkeys.ts), used in turn. */
  passkeys?: SeededPasskey[]
}

export interface LoadResult {
  requestsPerSecond: number
  p50: number
  p99: number
  errors: number
  non2xx: number
  total: number
  /** The server's CPU time per completed operation, in µs (filled in by the runner). */
  serverCpuUs?: number
  /** The share of one core this load process used during the run (1: it kept a core busy). */
  clientCore?: number
}

const job = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as LoadJob
let next = 0
// 7,919 is prime to 10^7: index → index × 7,919 mod 10^7 visits every number of the space once.
const phone = (): string => job.phoneSpace === undefined
  ? '+7912' + String((job.phoneOffset ?? 0) + next++).padStart(7, '0')
  : `+79${job.phoneSpace}` + String(((job.phoneOffset ?? 0) + next++) * 7919 % 10_000_000).padStart(7, '0')
const pick = (): string => {
  const pool = job.pool ?? []
  const value = pool[next++ % pool.length] ?? ''
  return value
}

/** The phone's own address (10.x.y.z from its digits), when the job spreads them. */
function addressOf (number: string): Record<string, string> {
  if (job.spreadAddresses !== true) return {}
  const digits = Number(number.slice(-7))
  return { 'x-forwarded-for': `10.${digits >> 16 & 255}.${digits >> 8 & 255}.${digits & 255}` }
}

function requestFor (): autocannon.Request {
  switch (job.kind) {
    case 'me':
      return { method: 'GET', path: job.path, setupRequest: req => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${pick()}` } }) }
    case 'get':
      return { method: 'GET', path: job.path, setupRequest: req => (job.pool === undefined ? req : { ...req, headers: { ...req.headers, cookie: pick() } }) }
    case 'register':
      return {
        method: 'POST',
        path: job.path,
        headers: { 'content-type': 'application/json' },
        setupRequest: req => {
          const number = phone()
          return { ...req, headers: { ...req.headers, ...addressOf(number) }, body: JSON.stringify({ phone: number }) }
        }
      }
    case 'patch':
      return {
        method: 'PATCH',
        path: job.path,
        headers: { 'content-type': 'application/json' },
        setupRequest: req => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${pick()}` }, body: JSON.stringify({ invite_code: job.inviteCode }) })
      }
    case 'refresh':
      return { method: 'POST', path: job.path, headers: { 'content-type': 'application/json' }, setupRequest: req => ({ ...req, body: JSON.stringify({ refresh: pick() }) }) }
    default:
      throw new Error(`no autocannon request for ${job.kind}`)
  }
}

async function runAutocannon (): Promise<LoadResult> {
  const result = await autocannon({ url: job.url, connections: job.connections, duration: job.seconds, requests: [requestFor()] })
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total
  }
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 })

function call (url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request(url, { method, agent, headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** What the loops of a run count: each success's time, failures and refusals. */
interface Tally { durations: number[], errors: number, non2xx: number }

/** Runs `job.connections` copies of `loop` at once (each given its slot) and sums up what they counted. */
async function timedLoops (tally: Tally, loop: (slot: number) => Promise<void>): Promise<LoadResult> {
  const started = Date.now()
  await Promise.all(Array.from({ length: job.connections }, async (_, slot) => { await loop(slot) }))
  const seconds = (Date.now() - started) / 1000
  const durations = tally.durations.sort((a, b) => a - b)
  const at = (q: number): number => Math.round(durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0)
  return { requestsPerSecond: durations.length / seconds, p50: at(0.5), p99: at(0.99), errors: tally.errors, non2xx: tally.non2xx, total: durations.length }
}

/** register → code from the SMS sink → verify, by `connections` loops at once. */
async function runSignIns (): Promise<LoadResult> {
  const tally: Tally = { durations: [], errors: 0, non2xx: 0 }
  const end = Date.now() + job.seconds * 1000
  const paths = job.signIn ?? { registerPath: '/api/users/register/', verifyPath: '/api/users/verify_code/', phoneField: 'phone', codeField: 'auth_code' }
  async function loop (): Promise<void> {
    while (Date.now() < end) {
      const started = performance.now()
      const number = phone()
      try {
        const registered = await call(`${job.url}${paths.registerPath}`, 'POST', { [paths.phoneField]: number }, addressOf(number))
        if (registered.status !== 200) { tally.non2xx++; continue }
        const code = await call(`${job.sinkUrl}/code/${encodeURIComponent(number)}`, 'GET')
        const verified = await call(`${job.url}${paths.verifyPath}`, 'POST', { [paths.phoneField]: number, [paths.codeField]: code.text }, addressOf(number))
        if (verified.status !== 200) { tally.non2xx++; continue }
        tally.durations.push(performance.now() - started)
      } catch {
        tally.errors++
      }
    }
  }
  return await timedLoops(tally, loop)
}

/**
 * Refresh as apps do: each of `connections` loops holds one refresh token of the pool and swaps
 * it for the next pair again and again, so a pool of `connections` tokens lasts any run.
 */
async function runRotations (): Promise<LoadResult> {
  const tally: Tally = { durations: [], errors: 0, non2xx: 0 }
  const end = Date.now() + job.seconds * 1000
  async function loop (slot: number): Promise<void> {
    let refresh = job.pool?.[slot] ?? ''
    while (Date.now() < end) {
      const started = performance.now()
      try {
        const answer = await call(`${job.url}${job.path}`, 'POST', { refresh })
        if (answer.status !== 200) { tally.non2xx++; return }
        refresh = (JSON.parse(answer.text) as { refresh: string }).refresh
        tally.durations.push(performance.now() - started)
      } catch {
        tally.errors++
      }
    }
  }
  return await timedLoops(tally, loop)
}

/** Passkey sign-in: options → an assertion signed here → verification, by `connections` loops at once. No SMS. */
async function runPasskeySignIns (): Promise<LoadResult> {
  const tally: Tally = { durations: [], errors: 0, non2xx: 0 }
  const end = Date.now() + job.seconds * 1000
  const passkeys = job.passkeys ?? []
  async function loop (): Promise<void> {
    while (Date.now() < end) {
      const started = performance.now()
      const passkey = passkeys[next++ % passkeys.length]
      if (passkey === undefined) throw new Error('no passkeys to sign in with')
      try {
        const options = await call(`${job.url}/api/users/passkeys/authentication/options/`, 'POST', {})
        if (options.status !== 200) { tally.non2xx++; continue }
        const { challenge } = JSON.parse(options.text) as { challenge: string }
        const verified = await call(`${job.url}/api/users/passkeys/authentication/`, 'POST', { response: signAssertion(passkey, challenge) })
        if (verified.status !== 200) { tally.non2xx++; continue }
        tally.durations.push(performance.now() - started)
      } catch {
        tally.errors++
      }
    }
  }
  return await timedLoops(tally, loop)
}

const cpuBefore = process.cpuUsage()
const wallBefore = performance.now()
const result = job.kind === 'signin' ? await runSignIns() : job.kind === 'rotate' ? await runRotations() : job.kind === 'passkey-signin' ? await runPasskeySignIns() : await runAutocannon()
const cpu = process.cpuUsage(cpuBefore)
const clientCore = Number(((cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore)).toFixed(2))
process.stdout.write(JSON.stringify({ ...result, clientCore }) + '\n')
agent.destroy()
