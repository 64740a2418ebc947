import { fork, type ChildProcess, type ForkOptions } from 'node:child_process'

// Every process a benchmark launches goes through here, so that `npm run bench`, `bench:peer`
// and `soak` end by themselves once their report is written and leave nothing running, also
// when a run fails half-way, is interrupted, or dies of an error nobody caught.
//
// A process is node running the script directly (no npm, no shell in between, so a signal
// reaches the server itself) as the leader of a process group of its own: a stop signals the
// whole group, so whatever the server started goes with it. An IPC channel to a child that is
// still alive keeps this process alive, which is why a child nobody stops means a command that
// never exits.

const stopGraceMs = 5000
const launched = new Map<ChildProcess, Promise<number | null>>()

/**
 * Runs `script` under node, in a process group of its own, remembered until it has exited.
 * Node's flags are none unless `options.execArgv` names them, not this process's: a server
 * runs as it would on its own, whatever runs the harness.
 */
export function launch (script: string, args: string[], options: ForkOptions): ChildProcess {
  const child = fork(script, args, { execArgv: [], ...options, detached: true })
  const exited = new Promise<number | null>(resolve => {
    child.once('exit', code => { resolve(code) })
    // Not started at all (e.g. no such executable): there is nothing to wait for.
    child.once('error', () => { if (child.pid === undefined) resolve(null) })
  })
  launched.set(child, exited)
  void exited.then(() => launched.delete(child))
  return child
}

function signalGroup (child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // ESRCH: the group has no process left.
  }
}

/**
 * Stops a launched process and everything in its group: SIGTERM, SIGKILL if it has not exited
 * within `graceMs`. Resolves with its exit code (null when killed by a signal) once it has exited.
 */
export async function stop (child: ChildProcess, graceMs = stopGraceMs): Promise<number | null> {
  const exited = launched.get(child) ?? Promise.resolve(child.exitCode)
  if (child.exitCode === null && child.signalCode === null) signalGroup(child, 'SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const inTime = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), graceMs) })
  ])
  clearTimeout(timer)
  if (!inTime) signalGroup(child, 'SIGKILL')
  const code = await exited
  // Anything the server started and left behind when it exited.
  signalGroup(child, 'SIGKILL')
  return code
}

/** Stops every process launched and not yet exited. */
export async function stopLaunched (): Promise<void> {
  await Promise.all([...launched.keys()].map(async child => await stop(child)))
}

/** The processes launched and not yet exited, by pid (for the tests). */
export function launchedPids (): number[] {
  return [...launched.keys()].flatMap(child => (child.pid === undefined ? [] : [child.pid]))
}

/**
 * Runs a benchmark's `main` to its end: every launched process is stopped when it returns,
 * throws, or the command gets SIGINT/SIGTERM or an error nobody caught; then `cleanUp` runs and
 * the process exits with main's code (1 if it failed, 128 + the signal's number if stopped).
 */
export async function runToEnd (main: () => Promise<number | void>, cleanUp: () => void): Promise<void> {
  let ending = false
  async function end (code: number, why?: string): Promise<never> {
    if (ending) return await new Promise<never>(() => {})
    ending = true
    if (why !== undefined) process.stderr.write(`${why}; stopping the servers\n`)
    await stopLaunched()
    cleanUp()
    process.exit(code)
  }
  // `on`, not `once`: a second Ctrl-C while the servers stop must not kill this process first.
  process.on('SIGINT', () => void end(130, 'SIGINT'))
  process.on('SIGTERM', () => void end(143, 'SIGTERM'))
  process.on('uncaughtException', error => void end(1, `an error nobody caught: ${error.stack ?? String(error)}`))
  process.on('unhandledRejection', error => void end(1, `a promise rejected unhandled: ${error instanceof Error ? error.stack ?? error.message : String(error)}`))
  // A process.exit() somewhere else: kill what is left; nothing can be awaited in 'exit'.
  process.once('exit', () => { for (const child of launched.keys()) signalGroup(child, 'SIGKILL') })
  let code: number
  try {
    code = (await main()) ?? 0
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    code = 1
  }
  await end(code)
}
