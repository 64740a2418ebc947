import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js'
import t from 'tap'
import { repoRoot } from '../helpers/build.js'
import { startInstance } from '../helpers/instance.js'
import { startSmsSink, type SmsSink } from '../helpers/sms-sink.js'

// The service started with each platform's documented TRUST_PROXY, behind a stand-in for that
// platform's router. Clients connect from distinct loopback addresses (127.0.0.2, 127.0.0.3…),
// so the router sees real, different client addresses, as on the internet.
// Starting processes takes a while on a loaded 2-core machine: a budget, not a timing check.
t.setTimeout(300_000)

const operations = readFileSync(join(repoRoot, 'docs', 'OPERATIONS.md'), 'utf8')

/** The TRUST_PROXY a section of docs/OPERATIONS.md (or app.json, for Heroku) tells people to set. */
function documentedTrustProxy (platform: Platform): string {
  if (platform === 'heroku') {
    const appJson = JSON.parse(readFileSync(join(repoRoot, 'app.json'), 'utf8')) as { env: Record<string, { value?: string }> }
    const value = appJson.env.TRUST_PROXY?.value
    const inDocs = /heroku config:set [^\n]*TRUST_PROXY=(\S+)/.exec(operations)?.[1]
    if (value === undefined || value !== inDocs) throw new Error(`app.json (${String(value)}) and OPERATIONS.md (${String(inDocs)}) disagree on Heroku's TRUST_PROXY`)
    return value
  }
  const section = operations.split(/^### /m).find(part => part.startsWith(platform === 'render' ? 'Render' : 'Fly.io'))
  const value = /TRUST_PROXY(?:=| = ")([^`"\s]+)/.exec(section ?? '')?.[1]
  if (value === undefined) throw new Error(`no TRUST_PROXY in the ${platform} section of docs/OPERATIONS.md`)
  return value
}

type Platform = 'heroku' | 'render' | 'fly'

const cloudflareEdge = '104.22.17.40'
const flyAppAddress = '66.241.124.100'

/** The headers each platform's router adds, as their documentation describes them. */
function forwardedHeaders (platform: Platform, client: string, incoming: IncomingHttpHeaders): Record<string, string> {
  const chain = incoming['x-forwarded-for'] === undefined ? [] : [String(incoming['x-forwarded-for'])]
  switch (platform) {
    case 'heroku':
      return {
        'x-forwarded-for': [...chain, client].join(', '),
        'x-forwarded-proto': 'https',
        'x-forwarded-port': '443',
        'x-request-start': String(Date.now()),
        'x-request-id': randomUUID(),
        via: '1.1 vegur'
      }
    case 'render':
      // Cloudflare appends the client; Render's proxy appends the Cloudflare edge it came from.
      return {
        'x-forwarded-for': [...chain, client, cloudflareEdge].join(', '),
        'x-forwarded-proto': 'https',
        'cf-connecting-ip': client,
        'cf-visitor': '{"scheme":"https"}'
      }
    case 'fly':
      // Fly's proxy: the rightmost entry is the address assigned to the app.
      return {
        'x-forwarded-for': [...chain, client, flyAppAddress].join(', '),
        'x-forwarded-proto': 'https',
        'x-forwarded-ssl': 'on',
        'x-forwarded-port': '443',
        'fly-client-ip': client,
        'fly-forwarded-port': '443',
        'fly-region': 'ams',
        via: '1.1 fly.io'
      }
  }
}

/** A router: takes the client's connection, adds its headers, forwards to the service. */
async function startRouter (t: Tap, platform: Platform, upstream: string): Promise<string> {
  const target = new URL(upstream)
  const server: Server = createServer((incoming: IncomingMessage, outgoing) => {
    const client = incoming.socket.remoteAddress ?? ''
    const headers = { ...incoming.headers, ...forwardedHeaders(platform, client, incoming.headers) }
    const proxied = httpRequest({ host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers }, answer => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(outgoing)
    })
    proxied.on('error', () => { outgoing.writeHead(502).end() })
    incoming.pipe(proxied)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

interface Tap {
  teardown: (fn: () => unknown) => void
}

type Assert = Pick<typeof t, 'equal' | 'match'>

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  text: string
}

/** One request from a client at `from` (a loopback address of its own) to the router. */
async function send (router: string, from: string, method: string, path: string, options: { json?: unknown, form?: Record<string, string>, headers?: Record<string, string> } = {}): Promise<Answer> {
  const url = new URL(path, router)
  const body = options.json !== undefined ? JSON.stringify(options.json) : options.form !== undefined ? new URLSearchParams(options.form).toString() : undefined
  const headers: Record<string, string> = { ...options.headers }
  if (options.json !== undefined) headers['content-type'] = 'application/json'
  if (options.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
  return await new Promise<Answer>((resolve, reject) => {
    const outgoing = httpRequest({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers, localAddress: from, agent: false }, incoming => {
      let text = ''
      incoming.setEncoding('utf8')
      incoming.on('data', (chunk: string) => { text += chunk })
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, text }))
    })
    outgoing.on('error', reject)
    outgoing.end(body)
  })
}

function code (answer: Answer): string | undefined {
  try {
    return (JSON.parse(answer.text) as { code?: string }).code
  } catch {
    return undefined
  }
}

/** A browser's sign-in through the router: the form page, the code page, the profile. */
async function signInWithForms (t: Assert, router: string, from: string, sms: SmsSink, phone: string): Promise<void> {
  const origin = 'https://phonepass.example'
  const browser = { host: 'phonepass.example' }
  let cookie = ''
  const keep = (answer: Answer): Answer => {
    const set = answer.headers['set-cookie']?.find(line => line.startsWith('__Host-phonepass='))
    if (set !== undefined) cookie = set.split(';')[0] ?? ''
    return answer
  }
  const page = keep(await send(router, from, 'GET', '/login', { headers: browser }))
  const setCookie = page.headers['set-cookie']?.join('\n') ?? ''
  t.match(setCookie, /^__Host-phonepass=[^\n]*; Secure/m, 'the session cookie is __Host- and Secure behind the router')
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? ''
  const formPost = { ...browser, cookie, origin, 'sec-fetch-site': 'same-origin' }
  const sent = keep(await send(router, from, 'POST', '/login', { form: { _csrf: csrf, phone }, headers: formPost }))
  t.equal(sent.status, 303, 'the sign-in form is taken through the router (not 403)')
  t.equal(sent.headers.location, '/login/code')
  const codePage = keep(await send(router, from, 'GET', '/login/code', { headers: { ...browser, cookie } }))
  const codeCsrf = /name="_csrf" value="([^"]+)"/.exec(codePage.text)?.[1] ?? ''
  const signedIn = keep(await send(router, from, 'POST', '/login/code', { form: { _csrf: codeCsrf, auth_code: sms.lastCode(phone) }, headers: { ...formPost, cookie } }))
  t.equal(signedIn.status, 303)
  t.equal(signedIn.headers.location, '/profile')
  const profile = await send(router, from, 'GET', '/profile', { headers: { ...browser, cookie } })
  t.equal(profile.status, 200)
}

for (const platform of ['heroku', 'render', 'fly'] as const) {
  t.test(`${platform}: the documented TRUST_PROXY behind ${platform}'s router keeps clients apart`, async t => {
    const trustProxy = documentedTrustProxy(platform)
    const databaseFile = join(t.testdir(), 'phonepass.db')
    const sms = await startSmsSink()
    t.teardown(async () => { await sms.close() })
    const instance = await startInstance(t, {
      NODE_ENV: 'production',
      TRUST_PROXY: trustProxy,
      DATABASE_URL: `sqlite:${databaseFile}`,
      SMS_PROVIDER: 'webhook',
      SMS_WEBHOOK_URL: sms.url
    })
    const router = await startRouter(t, platform, instance.url)
    const [attacker, person] = ['127.0.0.2', '127.0.0.3'] as const

    // Sends: the attacker's 10 an hour are its own; the person's first is not refused.
    for (let i = 0; i < 10; i++) {
      const sent = await send(router, attacker, 'POST', '/api/users/register/', { json: { phone: `+7912345670${i}` } })
      t.equal(sent.status, 200, `attacker's code ${i + 1}`)
    }
    const refused = await send(router, attacker, 'POST', '/api/users/register/', { json: { phone: '+79123456710' } })
    t.equal(code(refused), 'rate_limited', 'the attacker\'s 11th send in the hour is refused')
    const spoofed = await send(router, attacker, 'POST', '/api/users/register/', { json: { phone: '+79123456711' }, headers: { 'x-forwarded-for': '198.51.100.9' } })
    t.equal(code(spoofed), 'rate_limited', 'an X-Forwarded-For of the attacker\'s own does not give it a new budget')

    // Guesses: 31 wrong codes from the attacker (the IP's limit is 30 an hour).
    for (let i = 0; i < 31; i++) {
      await send(router, attacker, 'POST', '/api/users/verify_code/', { json: { phone: `+7912345${String(6000 + i)}`, auth_code: '0000' } })
    }
    const guessed = await send(router, attacker, 'POST', '/api/users/verify_code/', { json: { phone: '+79123457000', auth_code: '0000' } })
    t.equal(code(guessed), 'rate_limited', 'the attacker\'s wrong tries hit its own limit')

    // The person, through the same router, is untouched by all of that.
    const registered = await send(router, person, 'POST', '/api/users/register/', { json: { phone: '+79123456789' } })
    t.equal(registered.status, 200, 'another client\'s send is not refused')
    const verified = await send(router, person, 'POST', '/api/users/verify_code/', { json: { phone: '+79123456789', auth_code: sms.lastCode('+79123456789') } })
    t.equal(verified.status, 200, 'another client\'s right code signs in')

    await signInWithForms(t, router, person, sms, '+79123456788')
    const database = new Database(databaseFile, { readonly: true })
    t.teardown(() => database.close())
    t.same(database.prepare('select distinct ip from sessions').pluck().all(), [person], 'sessions keep the client\'s own address, not a proxy\'s')
  })
}
