import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, rmSync, symlinkSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** True when the suite runs as compiled JavaScript from dist/test (`npm test`), false under the TypeScript loader. */
export const compiled = import.meta.url.endsWith('.js')

const above = resolve(fileURLToPath(new URL('../..', import.meta.url)))
/** The repository, whether this file runs from test/helpers or from dist/test/helpers. */
export const repoRoot = compiled && basename(above) === 'dist' ? dirname(above) : above

/** The file node runs for a source file of the repository (`src/main.ts`): itself, or its compiled twin in dist/. */
export function runnable (sourcePath: string): string {
  return compiled ? join(repoRoot, 'dist', sourcePath.replace(/\.ts$/, '.js')) : join(repoRoot, sourcePath)
}

/**
 * Compiles src/ and migrations/ as `npm run build` does, into a folder of its own inside the
 * repository (so node_modules resolves), with bin/ beside it: tests run the built server and
 * CLI as child processes without racing other test files for dist/. When the suite itself runs
 * compiled, `npm run build:test` has already built dist/ with the same options, and nothing
 * writes it during the run: that build is used as it is.
 */
export function buildDist (t: { teardown: (fn: () => unknown) => void }): string {
  if (compiled) return repoRoot
  const dir = join(repoRoot, '.tap', `build-${process.pid}-${Date.now()}`)
  mkdirSync(dir, { recursive: true })
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`tsc failed: ${result.stdout}${result.stderr}`)
  cpSync(join(repoRoot, 'bin'), join(dir, 'bin'), { recursive: true })
  return dir
}

/** A clean environment for a child process: nothing leaks in from the test runner. */
export function childEnv (env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', ...env }
}

/**
 * Compiles bench/ (with src/ and migrations/) as `npm run build:bench` does, without its type
 * check (`npm run lint` does that), into a folder of its own laid out like the repository:
 * dist/bench and dist/src, package.json (for `npm start`'s node flags) and bench/ itself (for
 * bench/peers), so the harness finds every script it launches where it would.
 */
export function buildBench (t: { teardown: (fn: () => unknown) => void }): string {
  if (compiled) return repoRoot
  const dir = join(repoRoot, '.tap', `bench-${process.pid}-${Date.now()}`)
  mkdirSync(dir, { recursive: true })
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', join(repoRoot, 'tsconfig.bench.json'), '--noCheck', '--outDir', join(dir, 'dist')], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`tsc failed: ${result.stdout}${result.stderr}`)
  cpSync(join(repoRoot, 'package.json'), join(dir, 'package.json'))
  symlinkSync(join(repoRoot, 'bench'), join(dir, 'bench'))
  return dir
}
