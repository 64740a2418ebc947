import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { testSecret } from './app.js'

/** A phonepass started as its own process, as in production: src/main.ts, listening on a free port. */
export interface Instance {
  url: string
  process: ChildProcess
  /** Every log line it has written, parsed (a cluster's: the primary's and every worker's). */
  logs: Array<Record<string, unknown>>
  /** Its exit code, once it has exited (null: ended by a signal). */
  exited: Promise<number | null>
  stop: () => Promise<void>
}

const mainFile = fileURLToPath(new URL('../../src/main.ts', import.meta.url))

/** The TypeScript loader, source maps and coverage the test runs under; not tap's mocks. */
function childExecArgv (): string[] {
  return process.execArgv.filter(arg => !arg.includes('@tapjs/mock'))
}

/** Runs a TypeScript entry point (e.g. a CLI in src/cli) to its end, as `node` would. */
export async function runScript (file: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, output: string }> {
  const child = spawn(process.execPath, [...childExecArgv(), fileURLToPath(new URL(`../../${file}`, import.meta.url)), ...args], {
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

/**
 * Starts src/main.ts in a child process with the loader the test itself runs under, so the
 * instance runs the same source. `env` adds to a test configuration (shared secret, webhook SMS).
 * With WEB_CONCURRENCY it resolves once every worker is listening.
 */
export async function startInstance (t: Tap, env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, [...childExecArgv(), mainFile], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      PHONEPASS_SECRET: testSecret,
      LOG_LEVEL: 'info',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  let listeners = Number(env.WEB_CONCURRENCY ?? '1')
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', line => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>
        logs.push(entry)
        const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(entry.msg))
        if (listening?.[1] !== undefined && --listeners === 0) resolve(listening[1])
      } catch {
        // not a log line
      }
    })
    child.once('exit', code => reject(new Error(`instance exited with ${String(code)} before listening: ${stderr}`)))
  })
  let stopped = false
  async function stop (): Promise<void> {
    if (stopped) return
    stopped = true
    child.kill('SIGTERM')
    await exited
  }
  t.teardown(stop)
  return { url, process: child, logs, exited, stop }
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
