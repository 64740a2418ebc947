import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { testSecret } from './app.js'
import { compiled, runnable } from './build.js'

/** A phonepass started as its own process, as in production: src/main.ts, listening on a free port. */
export interface Instance extends Started {
  url: string
  stop: () => Promise<void>
}

const mainFile = runnable('src/main.ts')

/**
 * The loaders the test runs under, for the child: source maps and coverage; TypeScript only when
 * the suite runs from source (compiled, its loader costs each child ~0.8 CPU-seconds for
 * nothing); never tap's mocks.
 */
function childExecArgv (): string[] {
  return process.execArgv.filter(arg => !arg.includes('@tapjs/mock') && !(compiled && arg.includes('@tapjs/typescript')))
}

/** Runs an entry point (e.g. a CLI in src/cli, named by its source file) to its end, as `node` would. */
export async function runScript (file: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, output: string }> {
  const child = spawn(process.execPath, [...childExecArgv(), runnable(file), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { code, output }
}

interface Tap {
  teardown: (fn: () => unknown) => void
}

/** src/main.ts started in a child process, listening or not. */
export interface Started {
  process: ChildProcess
  /** Every log line it has written, parsed (a cluster's: the primary's and every worker's). */
  logs: Array<Record<string, unknown>>
  /** Everything it wrote on stderr so far. */
  stderr: () => string
  /** Its exit code, once it has exited and every line it wrote is read (null: ended by a signal). */
  exited: Promise<number | null>
}

/**
 * Starts src/main.ts in a child process with the loader the test itself runs under, so the
 * instance runs the same source, and collects what it logs. `env` adds to a test
 * configuration (shared secret, port 0 on 127.0.0.1).
 */
export function spawnInstance (env: Record<string, string>): Started {
  const child = spawn(process.execPath, [...childExecArgv(), mainFile], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      PHONEPASS_SECRET: testSecret,
      LOG_LEVEL: 'info',
      // As in buildTestApp: the guard is on only where a test asks for it.
      FRAUD_GUARD: 'off',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  createInterface({ input: child.stdout! }).on('line', line => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      // not a log line
    }
  })
  // 'close', not 'exit': by then every line it wrote has been read.
  const exited = new Promise<number | null>(resolve => child.once('close', code => resolve(code)))
  return { process: child, logs, stderr: () => stderr, exited }
}

/** Waits until `count` log lines match (or the process exits first, or a minute passes); resolves with them. */
export async function waitForLogs (started: Started, match: (entry: Record<string, unknown>) => boolean, count = 1, timeoutMs = 60_000): Promise<Array<Record<string, unknown>>> {
  let exited = false
  void started.exited.then(() => { exited = true })
  for (const end = Date.now() + timeoutMs; ; await new Promise(resolve => setTimeout(resolve, 20))) {
    const found = started.logs.filter(match)
    if (found.length >= count) return found
    if (exited) throw new Error(`exited with ${found.length} of ${count} lines found: ${started.stderr()}`)
    if (Date.now() > end) throw new Error(`${found.length} of ${count} lines found in ${timeoutMs} ms`)
  }
}

/** The pids that wrote the request lines of these request ids (x-request-id), once every line is in. */
export async function pidsThatAnswered (instance: Started, requestIds: readonly string[]): Promise<Set<unknown>> {
  const lines = await waitForLogs(instance, entry => entry.msg === 'request' && requestIds.includes(String(entry.reqId)), requestIds.length)
  return new Set(lines.map(line => line.pid))
}

/**
 * Starts src/main.ts (spawnInstance) and resolves once it listens; with WEB_CONCURRENCY, once
 * every worker listens. `env` adds to a test configuration (shared secret, webhook SMS).
 */
export async function startInstance (t: Tap, env: Record<string, string>): Promise<Instance> {
  const started = spawnInstance(env)
  const listening = await waitForLogs(started, entry => /^Server listening at http:\/\/127\.0\.0\.1:\d+$/.test(String(entry.msg)), Number(env.WEB_CONCURRENCY ?? '1'))
    .catch((error: unknown) => { throw new Error(`instance did not listen: ${String(error)}`) })
  const url = String(listening[0]?.msg).replace('Server listening at ', '')
  let stopped = false
  async function stop (): Promise<void> {
    if (stopped) return
    stopped = true
    started.process.kill('SIGTERM')
    await started.exited
  }
  t.teardown(stop)
  return { ...started, url, stop }
}

export interface HttpAnswer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

/** A request over real HTTP; the body is parsed when it is JSON. */
export async function request (url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const init: RequestInit = { method, headers: { ...headers } }
  if (body !== undefined) {
    init.body = JSON.stringify(body)
    ;(init.headers as Record<string, string>)['content-type'] = 'application/json'
  }
  const response = await fetch(url, init)
  const text = await response.text()
  let parsed: Record<string, unknown> = {}
  try { parsed = text === '' ? {} : JSON.parse(text) as Record<string, unknown> } catch { parsed = { text } }
  return { status: response.status, headers: response.headers, body: parsed }
}
