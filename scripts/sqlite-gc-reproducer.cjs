/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose: it must load either build by path, and run in a worker */
/* global gc */
// Tries to make better-sqlite3 abort on Node 24 (docs/ARCHITECTURE.md, "Runtimes"): statements
// are prepared and dropped, then collected with no JavaScript on the stack.
//   node --expose-gc scripts/sqlite-gc-reproducer.cjs <path to better-sqlite3> [mode] [rounds] [idle s]
// modes: idle    asynchronous collections (V8 tasks run from the event loop) and idle periods for
//                V8's memory reducer, then exit with statements alive (the default)
//        exit    an asynchronous collection asked for, then process.exit at once
//        worker  each round in a worker thread that is terminated with dropped statements unswept
// Exit code 0 and "survived" at the end: no abort; an abort shows as SIGABRT (exit 134).
const { resolve } = require('node:path')
const { Worker, isMainThread, workerData } = require('node:worker_threads')

function churn (Database, round) {
  const db = new Database(':memory:')
  db.exec('create table t (a integer)')
  const kept = []
  // 20,000 distinct statements, each used once and dropped, and garbage around them.
  for (let i = 0; i < 20_000; i++) {
    const statement = db.prepare(`insert into t (a) values (${i} + ?)`)
    statement.run(round)
    if (i % 1000 === 0) kept.push(statement)
  }
  return { db, kept }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

if (!isMainThread) {
  const Database = require(workerData.driver)
  churn(Database, workerData.round)
  if (typeof gc === 'function') gc({ type: 'major', execution: 'async' })
  // Left to the terminate: the environment is torn down with the statements' wraps alive.
} else {
  const driver = resolve(process.argv[2] ?? 'better-sqlite3')
  const mode = process.argv[3] ?? 'idle'
  const rounds = Number(process.argv[4] ?? 5)
  const idleSeconds = Number(process.argv[5] ?? 12)
  const Database = require(driver)
  const alive = []
  const main = async () => {
    for (let round = 1; round <= rounds; round++) {
      if (mode === 'worker') {
        const worker = new Worker(__filename, { workerData: { driver, round } })
        await sleep(200)
        await worker.terminate()
        process.stdout.write(`round ${round}: worker terminated\n`)
        continue
      }
      alive.push(...churn(Database, round).kept)
      // Runs later, from a V8 task posted to the event loop: no JavaScript on the stack.
      if (typeof gc === 'function') gc({ type: 'major', execution: 'async' })
      if (mode === 'exit' && round === rounds) break
      process.stdout.write(`round ${round}: statements dropped, idle ${idleSeconds} s\n`)
      await sleep(idleSeconds * 1000)
    }
    process.stdout.write(`survived ${rounds} rounds (${mode}) on node ${process.versions.node}, ${alive.length} statements alive\n`)
  }
  main().then(() => process.exit(0))
}
