// Tries to make better-sqlite3 abort on Node 24 (docs/ARCHITECTURE.md, "Runtimes"): statements
// are prepared and dropped, then collected with no JavaScript on the stack — by an asynchronous
// collection (a V8 task run from the event loop), by V8's memory reducer while the process is
// idle, and at exit with statements still alive.
//   node --expose-gc scripts/sqlite-gc-reproducer.cjs <path to better-sqlite3> [rounds] [idle s]
// Exit code 0 and "survived" at the end: no abort; an abort shows as SIGABRT (exit 134).
const Database = require(require('node:path').resolve(process.argv[2] ?? 'better-sqlite3'))
const rounds = Number(process.argv[3] ?? 5)
const idleSeconds = Number(process.argv[4] ?? 12)
const db = new Database(':memory:')
db.exec('create table t (a integer)')
const kept = []
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
async function main () {
  for (let round = 1; round <= rounds; round++) {
    // 20,000 distinct statements, each used once and dropped, and garbage around them.
    for (let i = 0; i < 20_000; i++) {
      const statement = db.prepare(`insert into t (a) values (${i} + ?)`)
      statement.run(round)
      if (i % 1000 === 0) kept.push(statement)
    }
    db.exec('delete from t')
    if (typeof gc === 'function') {
      // Runs later, from a V8 task posted to the event loop: no JavaScript on the stack.
      gc({ type: 'major', execution: 'async' })
    }
    process.stdout.write(`round ${round}: statements dropped, idle ${idleSeconds} s\n`)
    await sleep(idleSeconds * 1000)
  }
  process.stdout.write(`survived ${rounds} rounds on node ${process.versions.node}; exiting with ${kept.length} statements alive\n`)
}
main().then(() => process.exit(0))
