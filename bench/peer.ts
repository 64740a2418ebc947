import { join } from 'node:path'
import type { LoadJob, LoadResult } from './load.js'
import {
  connections, here, load, machine, record, rounds, runBench, seconds, start, startPeer, startPhonepass, summarise, table, writeResults
} from './harness.js'

// `npm run bench:peer`: phonepass and better-auth's phone-number plugin (both on
// better-sqlite3, both sending codes to the same local SMS sink), the same sign-in and
// "who am I" scenarios, interleaved in one run. The ratio is phonepass ÷ better-auth.

const sinkUrl = 'http://127.0.0.1:3200'
const betterAuthUrl = 'http://127.0.0.1:3400'
const betterAuthSignIn = { registerPath: '/api/auth/phone-number/send-otp', verifyPath: '/api/auth/phone-number/verify', phoneField: 'phoneNumber', codeField: 'code' }

async function post (url: string, body: unknown): Promise<Response> {
  return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

async function code (phone: string): Promise<string> {
  return await (await fetch(`${sinkUrl}/code/${encodeURIComponent(phone)}`)).text()
}

/** Signs in `count` phones on each service, for the "who am I" pools. */
async function tokens (phonepassUrl: string, count: number): Promise<{ phonepass: string[], betterAuth: string[] }> {
  const phonepass: string[] = []
  const betterAuth: string[] = []
  for (let i = 0; i < count; i++) {
    const phone = '+7913' + String(i).padStart(7, '0')
    await post(`${phonepassUrl}/api/users/register/`, { phone })
    const signedIn = await (await post(`${phonepassUrl}/api/users/verify_code/`, { phone, auth_code: await code(phone) })).json() as { access: string }
    phonepass.push(signedIn.access)
    await post(`${betterAuthUrl}${betterAuthSignIn.registerPath}`, { phoneNumber: phone })
    const verified = await post(`${betterAuthUrl}${betterAuthSignIn.verifyPath}`, { phoneNumber: phone, code: await code(phone) })
    betterAuth.push(verified.headers.get('set-auth-token') ?? '')
    if (i % 50 === 0) process.stderr.write(`signed in ${i + 1} of ${count} on each\n`)
  }
  return { phonepass, betterAuth }
}

async function main (): Promise<void> {
  await start(join(here, 'sms-sink-server.js'), { PORT: '3200' })
  const phonepass = await startPhonepass('peer.db', 3000, 3200)
  await startPeer(3400, sinkUrl)
  const pools = await tokens(phonepass.url, 200)

  const base = { seconds, connections }
  const pairs: Array<{ name: string, ours: (round: number) => LoadJob, theirs: (round: number) => LoadJob }> = [
    {
      name: 'sign-in (send code + verify)',
      ours: round => ({ ...base, kind: 'signin', url: phonepass.url, path: '', sinkUrl, phoneOffset: 1_000_000 * (round + 2) }),
      theirs: round => ({ ...base, kind: 'signin', url: betterAuthUrl, path: '', sinkUrl, phoneOffset: 5_000_000 + 1_000_000 * (round + 2), signIn: betterAuthSignIn })
    },
    {
      name: 'who am I (me / get-session)',
      ours: () => ({ ...base, kind: 'me', url: phonepass.url, path: '/api/users/me/', pool: pools.phonepass }),
      theirs: () => ({ ...base, kind: 'me', url: betterAuthUrl, path: '/api/auth/get-session', pool: pools.betterAuth })
    }
  ]
  for (const pair of pairs) {
    await load({ ...pair.ours(-1), seconds: 2 })
    await load({ ...pair.theirs(-1), seconds: 2 })
  }
  const results = new Map<string, LoadResult[]>()
  const ratios = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    for (const pair of pairs) {
      const theirs = await load(pair.theirs(round))
      const ours = await load(pair.ours(round))
      record(results, ratios, `phonepass: ${pair.name}`, ours, theirs.requestsPerSecond)
      record(results, ratios, `better-auth: ${pair.name}`, theirs, theirs.requestsPerSecond)
      process.stderr.write(`round ${round + 1} ${pair.name}: phonepass ${Math.round(ours.requestsPerSecond)}/s, better-auth ${Math.round(theirs.requestsPerSecond)}/s\n`)
    }
  }
  const rows = summarise(results, ratios)
  process.stdout.write(`\n${table(rows, '× better-auth')}\n`)
  const date = new Date().toISOString()
  const out = writeResults(`${date.slice(0, 10)}-peer.json`, { date, machine: machine(), settings: { seconds, rounds, connections }, rows })
  process.stdout.write(`written to ${out}\n`)
}

await runBench(main)
