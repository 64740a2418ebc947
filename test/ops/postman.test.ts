import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { repoRoot } from '../helpers/build.js'
import { testSecret } from '../helpers/app.js'

interface NewmanSummary {
  run: {
    stats: Record<'requests' | 'assertions' | 'testScripts', { total: number, failed: number }>
    failures: Array<{ error: { message: string }, source?: { name?: string } }>
  }
}
type NewmanRun = (options: Record<string, unknown>, callback: (error: Error | null, summary: NewmanSummary) => void) => void
const newman = createRequire(import.meta.url)('newman') as { run: NewmanRun }

const collectionFile = join(repoRoot, 'postman_collection.json')
const environmentFile = join(repoRoot, 'postman_environment.json')

interface Item { name: string, item?: Item[], request?: { method: string, url: { raw: string } } }
function requestsOf (items: Item[]): Array<{ method: string, path: string }> {
  return items.flatMap(item => item.item !== undefined
    ? requestsOf(item.item)
    // Postman's path variables (:id) are the document's parameters ({id}).
    : [{ method: item.request?.method ?? '', path: (item.request?.url.raw ?? '').replace('{{baseUrl}}', '').replace(/\?.*$/, '').replace(/:(\w+)/g, '{$1}') }])
}

/** The admin key the environment sends, which the server must list. */
function adminKeyOf (file: string): string {
  const environment = JSON.parse(readFileSync(file, 'utf8')) as { values: Array<{ key: string, value: string }> }
  const key = environment.values.find(value => value.key === 'adminKey')?.value
  if (key === undefined) throw new Error('the environment has no adminKey')
  return key
}

t.test('the collection covers every route of the OpenAPI document, with tests in each request', async t => {
  const collection = JSON.parse(readFileSync(collectionFile, 'utf8')) as { item: Item[] }
  const requests = requestsOf(collection.item)
  const app = await buildApp(loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'sqlite::memory:', PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'silent' }))
  t.teardown(async () => { await app.close() })
  await app.ready()
  const paths = (app.swagger() as { paths: Record<string, Record<string, unknown>> }).paths
  const routes = Object.entries(paths).flatMap(([path, methods]) => Object.keys(methods).map(method => ({ method: method.toUpperCase(), path })))
  t.ok(routes.length >= 8, `${routes.length} routes`)
  for (const route of routes) {
    t.ok(requests.some(r => r.method === route.method && r.path === route.path), `${route.method} ${route.path} is in the collection`)
  }
  const scripts = JSON.stringify(collection).match(/pm\.test\(/g) ?? []
  t.ok(scripts.length >= requests.length, 'every request has tests')
})

t.test('newman runs the collection green against a listening server, twice', async t => {
  const config = loadConfig({
    NODE_ENV: 'test', DATABASE_URL: 'sqlite::memory:', PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'silent',
    TEST_PHONE_NUMBERS: '+15550100001=1234,+15550100002=1234,+15550100003=1234,+15550100004=1234',
    PHONEPASS_ADMIN_KEYS: `postman:${adminKeyOf(environmentFile)}`
  })
  const app = await buildApp(config)
  t.teardown(async () => { await app.close() })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  // A second run meets accounts that exist and an invite already activated.
  for (const round of [1, 2]) {
    const summary = await new Promise<NewmanSummary>((resolve, reject) => {
      newman.run({
        collection: collectionFile,
        environment: environmentFile,
        envVar: [{ key: 'baseUrl', value: address }],
        reporters: [],
        timeoutRequest: 10_000
      }, (error, result) => { if (error !== null) reject(error); else resolve(result) })
    })
    const { stats, failures } = summary.run
    t.same(failures.map(f => `${f.source?.name ?? '?'}: ${f.error.message}`), [], `round ${round}: no failures`)
    t.ok(stats.requests.total >= 20, `round ${round}: ${stats.requests.total} requests`)
    t.equal(stats.requests.failed, 0)
    t.ok(stats.assertions.total >= 40, `round ${round}: ${stats.assertions.total} assertions`)
    t.equal(stats.assertions.failed, 0)
  }
})
