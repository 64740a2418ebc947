import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../helpers/build.js'

// The test scripts of package.json, as README and CI run them: which files each pass runs,
// asked of tap itself (`tap list` with the script's own options). An --exclude that tap
// ignores (it does for files named on the command line) once sent all 81 files through the
// PostgreSQL pass, some of them not written for it.

const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts

/** The files a test script would run, in dist/ as it runs them. */
function listed (script: string): string[] {
  const command = scripts[script]
  if (command === undefined) throw new Error(`no script ${script}`)
  const tapPart = command.replace(/^npm run build:test && /, '')
  if (!/(^|\s)tap\s/.test(tapPart)) throw new Error(`${script} does not run tap: ${command}`)
  const output = execFileSync('sh', ['-c', tapPart.replace(/(^|\s)tap\s/, '$1tap list ')], {
    cwd: repoRoot,
    // Not this run's TAP_* variables: the listing must be what a fresh `npm run` gets.
    env: { PATH: `${join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '' },
    encoding: 'utf8'
  })
  return output.split('\n').filter(line => line !== '').sort()
}

/** Every test file of the repository, as its compiled path. */
const allTests = readdirSync(join(repoRoot, 'test'), { recursive: true, encoding: 'utf8' })
  .filter(file => file.endsWith('.test.ts'))
  .map(file => `dist/test/${file.replace(/\.ts$/, '.js')}`)
  .sort()

t.test('npm test builds once, then runs both passes; each pass alone builds first', async t => {
  t.equal(scripts.test, 'npm run build:test && npm run tap:sqlite && npm run tap:postgres')
  t.equal(scripts['test:sqlite'], 'npm run build:test && npm run tap:sqlite')
  t.equal(scripts['test:postgres'], 'npm run build:test && npm run tap:postgres')
})

t.test('the SQLite pass runs every test file, compiled', async t => {
  t.ok(allTests.length > 50, `${allTests.length} test files`)
  t.same(listed('tap:sqlite'), allTests)
})

t.test('the PostgreSQL pass leaves out exactly the database-agnostic files it names, and keeps the PostgreSQL ones', async t => {
  const files = listed('tap:postgres')
  t.ok(files.every(file => allTests.includes(file)), 'only test files')
  for (const file of allTests.filter(file => file.startsWith('dist/test/postgres/') || file.startsWith('dist/test/api/') || file.startsWith('dist/test/store/'))) {
    if (file.endsWith('/database.test.js') || file.endsWith('/migrations.test.js')) continue
    t.ok(files.includes(file), `runs ${file}`)
  }
  for (const left of ['dist/test/crash/crash.test.js', 'dist/test/config.test.js', 'dist/test/faults/sms-provider.test.js', 'dist/test/ops/worker-lifecycle.test.js', 'dist/test/ops/test-passes.test.js', 'dist/test/web/browser.test.js', 'dist/test/web/admin-browser.test.js', 'dist/test/web/account-browser.test.js', 'dist/test/web/fraud-challenge-browser.test.js', 'dist/test/web/passkey-browser.test.js', 'dist/test/web/channels-browser.test.js', 'dist/test/bench/servers.test.js']) {
    t.notOk(files.includes(left), `leaves out ${left}`)
  }
  t.ok(files.length < allTests.length - 20, `${files.length} of ${allTests.length} files`)
})

t.test('the runtime lane runs a file for each pattern it names, and only files that exist', async t => {
  const files = listed('test:runtime')
  const patterns = (scripts['test:runtime'] ?? '').split(/\s+/).filter(word => word.replace(/'/g, '').startsWith('dist/test/'))
  t.ok(patterns.length >= 8, `${patterns.length} patterns`)
  t.ok(files.every(file => allTests.includes(file)), `${files.length} files, each a test file`)
  for (const pattern of patterns) {
    const prefix = pattern.replace(/'/g, '').replace(/[*@(].*$/, '')
    t.ok(files.some(file => file.startsWith(prefix)), `${pattern} names at least one file`)
  }
})
