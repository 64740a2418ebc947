import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import { buildBench, repoRoot } from '../helpers/build.js'
import { request } from '../helpers/instance.js'

// `npm run bench`, `bench:peer` and `soak` must end by themselves once their report is written
// and leave no process behind, also when a run fails half-way (issue 18). These run the
// harness as `npm run build:bench` builds it: its real start of each server it launches (the
// SMS sink, the baseline fastify, phonepass, the better-auth peer, the load generator's
// helper), its real stop, and a benchmark command in miniature run to its end. A process left
// is found by pid, by process group, and by a marker in its environment (which every process
// the harness starts inherits), so one that was reparented or never reported its pid counts.

t.setTimeout(300_000)
const built = buildBench(t)
// The processes started here run the bench and a build of src/, not the code under test: they
// report no coverage (tap's coverage-exclude globs are fixed before this build exists).
process.env._TAPJS_PROCESSINFO_COVERAGE_ = '0'
type Harness = typeof import('../../bench/harness.js')
type Processes = typeof import('../../bench/processes.js')
type Seed = typeof import('../../bench/seed.js')
const harness = await import(pathToFileURL(join(built, 'dist', 'bench', 'harness.js')).href) as Harness
const processes = await import(pathToFileURL(join(built, 'dist', 'bench', 'processes.js')).href) as Processes
const seed = await import(pathToFileURL(join(built, 'dist', 'bench', 'seed.js')).href) as Seed
t.teardown(() => { rmSync(harness.work, { recursive: true, force: true }) })

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const groupAlive = (pid: number): boolean => alive(-pid)

/** Every process whose environment holds `marker` (children inherit it from whoever started them). */
function marked (marker: string): number[] {
  return readdirSync('/proc').filter(name => /^\d+$/.test(name)).filter(pid => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(marker)
    } catch {
      return false // gone meanwhile, or not ours
    }
  }).map(Number)
}

const markers: string[] = []

/** A marker for the processes this test starts, set in this process's environment. */
function markThisProcess (): string {
  const marker = `PHONEPASS_BENCH_TEST=${randomBytes(6).toString('hex')}`
  process.env.PHONEPASS_BENCH_TEST = marker.split('=')[1]
  markers.push(marker)
  return marker
}

// Should a stop fail (the test then fails by its timeout), what it left is killed here, so a
// failing run of this file leaves nothing on the machine either.
t.teardown(() => {
  for (const pid of markers.flatMap(marked)) {
    try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
  }
})

/** Each test's own limit, well under the file's: a stop that hangs fails its test, and the rest still run (a new object each time: tap writes into it). */
const within = (): { timeout: number } => ({ timeout: 90_000 })

async function settle (): Promise<void> {
  // A process killed by signal is gone from /proc once reaped; give the kernel a moment.
  await new Promise(resolve => setTimeout(resolve, 200))
}

function nothingLeft (t: Test, pids: number[], marker: string): void {
  for (const pid of pids) {
    t.notOk(alive(pid), `process ${pid} is gone`)
    t.notOk(groupAlive(pid), `process group ${pid} is empty`)
  }
  t.same(marked(marker), [], 'no process of this run is left')
  t.same(processes.launchedPids(), [], 'the harness remembers none still running')
}

t.test('each server the harness starts is stopped, process and group', within(), async t => {
  const marker = markThisProcess()
  const sinkPort = await harness.freePort()
  const sink = await harness.start(join(harness.here, 'sms-sink-server.js'), { PORT: String(sinkPort) })
  const baseline = await harness.start(join(harness.here, 'baseline-server.js'), { PORT: String(await harness.freePort()) })
  const phonepass = await harness.startPhonepass('servers-test.db', await harness.freePort(), sinkPort)
  t.equal((await fetch(`${phonepass.url}/healthz`)).status, 200, 'phonepass answers')
  const pids = [sink.pid!, baseline.pid!, phonepass.child.pid!]
  t.same(marked(marker).sort(), [...pids].sort(), 'the three run, marked')
  t.ok(readFileSync(`/proc/${phonepass.child.pid!}/environ`, 'utf8').split('\0').includes('WEB_CONCURRENCY=1'), 'phonepass runs one worker unless BENCH_WORKERS says more')
  const codes = await Promise.all([sink, baseline, phonepass.child].map(async child => await processes.stop(child)))
  t.same(codes, [0, 0, 0], 'each stopped on SIGTERM by itself, exit code 0')
  await settle()
  nothingLeft(t, pids, marker)
})

/** A JSON value's shape: the type of each field, recursively (an array by its first item's). */
function shapeOf (value: unknown): unknown {
  if (Array.isArray(value)) return [value.length === 0 ? 'empty' : shapeOf(value[0])]
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, shapeOf(field)]))
  return value === null ? 'null' : typeof value
}

t.test('the floor answers me, register and verify as phonepass does, and is stopped like the others', within(), async t => {
  const marker = markThisProcess()
  // The bench's way: a seeded file for phonepass, a copy of it for the floor.
  const file = join(harness.work, 'floor-test.db')
  await seed.migrate(file)
  seed.seedUsers(file, 40, i => (i === 1 ? 3 : 0))
  const [token] = await seed.seedSessions(file, harness.secret, [1])
  seed.copyDatabase(file, join(harness.work, 'floor-test-copy.db'))
  const sinkPort = await harness.freePort()
  const sink = await harness.start(join(harness.here, 'sms-sink-server.js'), { PORT: String(sinkPort) })
  const phonepass = await harness.startPhonepass('floor-test.db', await harness.freePort(), sinkPort)
  const floor = await harness.startFloor('floor-test-copy.db', await harness.freePort(), sinkPort)
  const pids = [sink.pid!, phonepass.child.pid!, floor.child.pid!]
  t.same(marked(marker).sort(), [...pids].sort(), 'the three run, marked')

  const bearer = { authorization: `Bearer ${token!.access}` }
  const [ourMe, floorMe] = await Promise.all([request(`${phonepass.url}/api/users/me/`, 'GET', undefined, bearer), request(`${floor.url}/api/users/me/`, 'GET', undefined, bearer)])
  t.equal(ourMe.status, 200)
  t.equal(floorMe.status, 200, 'the floor takes the bench\'s tokens')
  t.same(floorMe.body, ourMe.body, 'me: the same profile, invitees and count included')
  t.equal(ourMe.body.users_invited_count, 3)
  ourMe.headers.forEach((value, name) => {
    if (['x-request-id', 'date', 'content-length', 'connection', 'keep-alive'].includes(name)) return
    t.equal(floorMe.headers.get(name), value, `me: the same ${name}`)
  })
  for (const server of [phonepass, floor]) t.equal((await request(`${server.url}/api/users/me/`, 'GET')).status, 401, `me without a token: 401 from ${server === floor ? 'the floor' : 'phonepass'}`)

  const [ourPhone, floorPhone] = ['+79120000001', '+79120000002']
  const [ourCode, floorCode] = await Promise.all([request(`${phonepass.url}/api/users/register/`, 'POST', { phone: ourPhone }), request(`${floor.url}/api/users/register/`, 'POST', { phone: floorPhone })])
  t.equal(ourCode.status, 200)
  t.equal(floorCode.status, 200)
  t.same(floorCode.body, { ...ourCode.body, phone: floorPhone, detail: String(ourCode.body.detail).replace(ourPhone, floorPhone) }, 'register: the same answer')
  t.equal((await request(`${floor.url}/api/users/register/`, 'POST', { phone: floorPhone })).status, 429, 'register again at once: the floor keeps the spacing too')

  const codeOf = async (phone: string): Promise<string> => await (await fetch(`http://127.0.0.1:${sinkPort}/code/${encodeURIComponent(phone)}`)).text()
  const [ourSignIn, floorSignIn] = await Promise.all([
    request(`${phonepass.url}/api/users/verify_code/`, 'POST', { phone: ourPhone, auth_code: await codeOf(ourPhone) }),
    request(`${floor.url}/api/users/verify_code/`, 'POST', { phone: floorPhone, auth_code: await codeOf(floorPhone) })
  ])
  t.equal(ourSignIn.status, 200)
  t.equal(floorSignIn.status, 200, 'verify: the code sent through the sink signs in')
  t.same(shapeOf(floorSignIn.body), shapeOf(ourSignIn.body), 'verify: the same shape')
  t.match(floorSignIn.body, { created: true, token_type: 'Bearer', expires_in: ourSignIn.body.expires_in, user: { phone: floorPhone, users_invited: [], users_invited_count: 0, activated_invite_code: null } })
  t.equal((await request(`${floor.url}/api/users/verify_code/`, 'POST', { phone: floorPhone, auth_code: await codeOf(floorPhone) })).status, 400, 'a spent code: 400 from the floor too')

  const codes = await Promise.all([sink, phonepass.child, floor.child].map(async child => await processes.stop(child)))
  t.same(codes, [0, 0, 0], 'each stopped on SIGTERM by itself, exit code 0')
  await settle()
  nothingLeft(t, pids, marker)
})

t.test('the load generator runs its job through the same helper and ends', within(), async t => {
  const marker = markThisProcess()
  const port = await harness.freePort()
  const baseline = await harness.start(join(harness.here, 'baseline-server.js'), { PORT: String(port) })
  const result = await harness.load({ kind: 'get', url: `http://127.0.0.1:${port}`, path: '/', seconds: 1, connections: 1 })
  t.ok(result.total > 0, 'it ran requests')
  t.same(processes.launchedPids(), [baseline.pid], 'only the server is left, the load generator has exited')
  await processes.stop(baseline)
  await settle()
  nothingLeft(t, [baseline.pid!], marker)
})

t.test('the better-auth peer is started and stopped by the same helpers', within(), async t => {
  // Its dependencies come with `npm ci --prefix bench/peers` (better-auth and its tree), which
  // `npm run bench:peer` runs and the test suite does not. Without them the peer's script
  // fails on its first import after it was spawned: a start that fails half-way, which must
  // leave nothing. With them it starts, answers and is stopped like the others.
  const marker = markThisProcess()
  const sinkPort = await harness.freePort()
  const sink = await harness.start(join(harness.here, 'sms-sink-server.js'), { PORT: String(sinkPort) })
  const installed = existsSync(join(repoRoot, 'bench', 'peers', 'node_modules', 'better-auth'))
  const pids = [sink.pid!]
  if (installed) {
    const peer = await harness.startPeer(await harness.freePort(), `http://127.0.0.1:${sinkPort}`)
    pids.push(peer.child.pid!)
    t.equal((await fetch(`${peer.url}/healthz`)).status, 200, 'the peer answers')
    t.equal(await processes.stop(peer.child), 0, 'the peer stopped on SIGTERM by itself')
  } else {
    await t.rejects(harness.startPeer(await harness.freePort(), `http://127.0.0.1:${sinkPort}`), /better-auth-server\.mjs exited with 1 before it was ready/)
  }
  await processes.stop(sink)
  await settle()
  nothingLeft(t, pids, marker)
})

t.test('a start that fails after spawning stops what it spawned', within(), async t => {
  const marker = markThisProcess()
  process.env.ACCESS_TOKEN_TTL_SECONDS = '0' // phonepass refuses it and exits with 78
  t.teardown(() => { delete process.env.ACCESS_TOKEN_TTL_SECONDS })
  await t.rejects(harness.startPhonepass('refused.db', await harness.freePort(), undefined), /main\.js exited with 78 before it was ready/)
  await settle()
  nothingLeft(t, [], marker)
})

t.test('a server that ignores SIGTERM is killed, with what it started, after the grace', within(), async t => {
  const marker = markThisProcess()
  const child = processes.launch(join(repoRoot, 'test', 'bench', 'fixtures', 'stubborn-server.mjs'), [], { env: process.env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const { helper } = await new Promise<{ helper: number }>(resolve => child.once('message', message => resolve(message as { helper: number })))
  t.ok(alive(helper), 'its helper runs')
  // A server's workers are in its group: its figures are the group's (BENCH_WORKERS).
  const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
  // Both are still starting and growing: the harness's count is read between two sums.
  const both = (): number => (rssKb(child.pid!) + rssKb(helper)) / 1024
  const [before, counted, after] = [both(), harness.processStats(child.pid!).rssMb, both()]
  t.ok(counted >= Math.min(before, after) - 1 && counted <= Math.max(before, after) + 1, `the RSS counted (${counted.toFixed(1)} MB) is the server's and its helper's (${before.toFixed(1)}, then ${after.toFixed(1)} MB)`)
  t.equal(await processes.stop(child, 300), null, 'killed by a signal, not exited by itself')
  t.equal(child.signalCode, 'SIGKILL')
  await settle()
  nothingLeft(t, [child.pid!, helper], marker)
})

/** Runs the miniature benchmark command; resolves when it has exited (fails the test after 60 s). */
function runCommand (mode: string, onPids?: (pids: number[], command: ChildProcess) => void): Promise<{ code: number | null, output: string, pids: number[] }> {
  const command = spawn(process.execPath, [join(repoRoot, 'test', 'bench', 'fixtures', 'bench-run.mjs'), built, mode], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let pids: number[] = []
  command.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
    const line = /\{"pids":.*\}/.exec(output)
    if (line !== null && pids.length === 0) {
      pids = (JSON.parse(line[0]) as { pids: number[] }).pids
      onPids?.(pids, command)
    }
  })
  command.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      command.kill('SIGKILL')
      reject(new Error(`the command did not end by itself within 60 s: ${output}`))
    }, 60_000)
    command.once('exit', code => { clearTimeout(timer); resolve({ code, output, pids }) })
  })
}

t.test('a benchmark command ends by itself once its report is written, leaving nothing', within(), async t => {
  const marker = markThisProcess()
  const { code, output, pids } = await runCommand('finish')
  t.equal(code, 0, output)
  t.match(output, /report written/)
  t.equal(pids.length, 3, 'it had started its three servers')
  await settle()
  nothingLeft(t, pids, marker)
})

t.test('a benchmark command that fails half-way ends, leaving nothing', within(), async t => {
  const marker = markThisProcess()
  const { code, output, pids } = await runCommand('fail')
  t.equal(code, 1)
  t.match(output, /failed half-way/)
  t.equal(pids.length, 3)
  await settle()
  nothingLeft(t, pids, marker)
})

t.test('a benchmark command whose server fails to start ends, leaving nothing', within(), async t => {
  const marker = markThisProcess()
  const { code, output } = await runCommand('fail-start')
  t.equal(code, 1)
  t.match(output, /ACCESS_TOKEN_TTL_SECONDS/)
  t.match(output, /main\.js exited with 78 before it was ready/)
  await settle()
  t.same(marked(marker), [], 'no process of this run is left')
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  t.test(`a benchmark command stopped by ${signal} stops its servers and ends`, within(), async t => {
    const marker = markThisProcess()
    const { code, pids } = await runCommand('hold', (_pids, command) => { command.kill(signal) })
    t.equal(code, signal === 'SIGINT' ? 130 : 143)
    t.equal(pids.length, 3)
    await settle()
    nothingLeft(t, pids, marker)
  })
}
