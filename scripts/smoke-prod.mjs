#!/usr/bin/env node
// `npm run smoke:prod`: the Dockerfile's runtime stage without Docker. It reads the
// Dockerfile, so the two cannot drift apart:
//   build stage  → tsc into a temporary folder (dirs the build stage makes with mkdir -p may be absent)
//   deps stage   → the files it copies, then `npm ci --omit=dev` (a runtime dependency left in
//                  devDependencies fails the start below)
//   runtime      → every COPY of the runtime stage, its ENV, its CMD with NODE_ENV=production
// then checks /healthz, /readyz, the HEALTHCHECK command, one sign-in with a test phone, the
// operator CLI, and that SIGTERM ends the process with exit code 0 within 10 s.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const keep = process.argv.includes('--keep')
const testPhone = '+15550100001'
const testCode = '1234'
const started = Date.now()

function log (line) { process.stdout.write(`smoke:prod ${((Date.now() - started) / 1000).toFixed(1)}s ${line}\n`) }
function fail (line) { throw new Error(line) }

/** Stages of the Dockerfile: name → instructions (continuation lines joined). */
function readDockerfile () {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  const stages = new Map()
  let current
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const [instruction, ...rest] = line.split(/\s+/)
    const args = rest.join(' ')
    if (instruction.toUpperCase() === 'FROM') {
      const name = args.match(/\bAS\s+(\S+)/i)?.[1] ?? `stage${stages.size}`
      current = []
      stages.set(name, current)
    } else if (current !== undefined) {
      current.push({ instruction: instruction.toUpperCase(), args })
    }
  }
  return stages
}

function parseCopy (args) {
  const from = args.match(/--from=(\S+)/)?.[1]
  const parts = args.replace(/--\S+/g, '').trim().split(/\s+/)
  const destination = parts.pop()
  return { from, sources: parts, destination }
}

function parseEnv (args) {
  const env = {}
  for (const match of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[match[1]] = match[2].replace(/^"|"$/g, '')
  return env
}

function parseExecForm (args) {
  const json = args.replace(/^--\S+\s+/g, '').replace(/^(--\S+\s+)+/, '')
  const start = json.indexOf('[')
  return JSON.parse(json.slice(start))
}

function run (command, args, options) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options })
  if (result.status !== 0) fail(`${command} ${args.join(' ')} exited with ${result.status}`)
}

async function freePort () {
  return await new Promise((resolvePort, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolvePort(port))
    })
    server.on('error', reject)
  })
}

async function request (base, method, path, body, headers = {}) {
  const response = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await response.text()
  let json
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: response.status, json, text }
}

async function waitForHealth (base, child) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) fail(`the server exited with ${child.exitCode} before it was healthy`)
    try {
      const response = await fetch(base + '/healthz')
      if (response.ok) return
    } catch {
      // not listening yet
    }
    await new Promise(resolveWait => setTimeout(resolveWait, 100))
  }
  fail('the server did not answer /healthz within 20 s')
}

async function main () {
  const stages = readDockerfile()
  const runtime = stages.get('runtime') ?? fail('the Dockerfile has no stage named runtime')
  const deps = stages.get('deps') ?? fail('the Dockerfile has no stage named deps')
  const work = mkdtempSync(join(tmpdir(), 'phonepass-smoke-'))
  const app = join(work, 'app')
  const built = join(work, 'build')
  const depsDir = join(work, 'deps')
  mkdirSync(app)
  mkdirSync(depsDir)
  let child
  try {
    // build stage
    log('build stage: tsc')
    run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(built, 'dist')], { cwd: root })

    // deps stage
    for (const step of deps) {
      if (step.instruction === 'COPY') {
        const { sources } = parseCopy(step.args)
        for (const source of sources) cpSync(join(root, source), join(depsDir, source), { recursive: true })
      }
    }
    log('deps stage: npm ci --omit=dev')
    // SMOKE_REUSE_NATIVE_BUILD=1 (CI): better-sqlite3 has no prebuilt binary to download here and
    // compiles for minutes; the one this checkout already compiled for the same Node is copied in
    // instead. Every other package, and whether it is a runtime dependency, is as in the image.
    const reuseNative = process.env.SMOKE_REUSE_NATIVE_BUILD === '1'
    run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', ...(reuseNative ? ['--ignore-scripts'] : [])], { cwd: depsDir, env: { ...process.env, JOBS: 'max' } })
    // From Node 22 on, better-sqlite3 13 (prebuilt, inside its package) is loaded and 12 needs no build.
    const addon = 'node_modules/better-sqlite3/build'
    if (reuseNative && existsSync(join(root, addon))) {
      cpSync(join(root, addon), join(depsDir, addon), { recursive: true })
      log(`reused ${addon} from this checkout`)
    }

    // runtime stage
    const env = {}
    let command
    let healthcheck
    for (const step of runtime) {
      if (step.instruction === 'ENV') Object.assign(env, parseEnv(step.args))
      if (step.instruction === 'CMD') command = parseExecForm(step.args)
      if (step.instruction === 'HEALTHCHECK') healthcheck = parseExecForm(step.args.slice(step.args.indexOf('CMD') + 3))
      if (step.instruction !== 'COPY') continue
      const { from, sources, destination } = parseCopy(step.args)
      for (const source of sources) {
        const relative = source.replace(/^\/app\//, '')
        const target = join(app, destination === './' ? relative : destination)
        const origin = from === 'deps' ? join(depsDir, relative) : from === 'build' ? (relative === 'dist' ? join(built, 'dist') : join(root, relative)) : join(root, relative)
        if (!existsSync(origin)) {
          // The build stage makes views/ and public/ with mkdir -p when the context has none.
          if (from === 'build') { mkdirSync(target, { recursive: true }); continue }
          fail(`the Dockerfile copies ${source}, which does not exist`)
        }
        cpSync(origin, target, { recursive: true })
      }
    }
    if (command === undefined) fail('the runtime stage has no CMD in exec form')
    if (env.NODE_ENV !== 'production') fail('the runtime stage does not set NODE_ENV=production')

    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const childEnv = {
      PATH: process.env.PATH,
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(work, 'data', 'phonepass.db')}`,
      PHONEPASS_SECRET: randomBytes(32).toString('base64url'),
      TEST_PHONE_NUMBERS: `${testPhone}=${testCode}`,
      LOG_LEVEL: 'warn'
    }
    log(`runtime stage: ${command.join(' ')} on port ${port}`)
    const [executable, ...args] = command
    child = spawn(executable === 'node' ? process.execPath : executable, args, { cwd: app, env: childEnv, stdio: ['ignore', 'inherit', 'inherit'] })
    await waitForHealth(base, child)

    const ready = await request(base, 'GET', '/readyz')
    if (ready.status !== 200) fail(`/readyz answered ${ready.status}: ${ready.text}`)
    if (healthcheck !== undefined) {
      const [hcExecutable, ...hcArgs] = healthcheck
      run(hcExecutable === 'node' ? process.execPath : hcExecutable, hcArgs, { cwd: app, env: childEnv })
      log('HEALTHCHECK command passed')
    }
    const registered = await request(base, 'POST', '/api/users/register/', { phone: testPhone })
    if (registered.status !== 200) fail(`register answered ${registered.status}: ${registered.text}`)
    const verified = await request(base, 'POST', '/api/users/verify_code/', { phone: testPhone, auth_code: testCode })
    if (verified.status !== 200 || typeof verified.json?.access !== 'string') fail(`verify_code answered ${verified.status}: ${verified.text}`)
    const me = await request(base, 'GET', '/api/users/me/', undefined, { authorization: `Bearer ${verified.json.access}` })
    if (me.status !== 200 || me.json?.phone !== testPhone) fail(`me answered ${me.status}: ${me.text}`)
    log('healthz, readyz, sign-in and /api/users/me/ passed')

    const cli = spawnSync(process.execPath, ['bin/phonepass.js', 'user', 'show', testPhone, '--json'], { cwd: app, env: childEnv, encoding: 'utf8' })
    if (cli.status !== 0 || JSON.parse(cli.stdout).profile?.phone !== testPhone) fail(`the CLI failed (${cli.status}): ${cli.stderr}`)
    log('operator CLI passed')

    const exited = new Promise(resolveExit => child.once('exit', (code, signal) => resolveExit({ code, signal })))
    const stoppedAt = Date.now()
    child.kill('SIGTERM')
    const outcome = await Promise.race([exited, new Promise(resolveTimeout => setTimeout(() => resolveTimeout(undefined), 10_000))])
    if (outcome === undefined) fail('the server did not exit within 10 s of SIGTERM')
    if (outcome.code !== 0) fail(`the server exited with ${outcome.code ?? outcome.signal} after SIGTERM`)
    log(`SIGTERM: clean exit in ${Date.now() - stoppedAt} ms`)
    const size = spawnSync('du', ['-sh', 'node_modules', 'dist'], { cwd: app, encoding: 'utf8' }).stdout.trim().replace(/\n/g, ', ')
    log(`runtime payload: ${size}`)
    log('passed')
  } finally {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    if (!keep) rmSync(work, { recursive: true, force: true })
  }
}

main().catch(error => {
  process.stderr.write(`smoke:prod FAILED: ${error.message}\n`)
  process.exitCode = 1
})
