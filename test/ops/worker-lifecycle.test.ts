import { createServer, type Server } from 'node:net'
import t from 'tap'
import { temporarySqliteFor } from '../helpers/database.js'
import { pidsThatAnswered, request, spawnInstance, startInstance, waitForLogs, type Instance } from '../helpers/instance.js'
import { startSmsSink } from '../helpers/sms-sink.js'

// The cluster's processes themselves, on a SQLite file: one worker stays one process, a worker
// killed is replaced, SIGTERM drains every worker, and workers that cannot start end the service.
// Starting processes (a primary and its workers) takes a while on a loaded machine: a budget
// for this file, not a timing assertion.
t.setTimeout(600_000)

/** Requests on connections of their own, so the cluster hands each to the next worker; the pids that answered. */
async function answeringPids (instance: Instance, label: string, count = 10): Promise<Set<unknown>> {
  const ids = Array.from({ length: count }, (_, n) => `${label}-${n}`)
  const answers = await Promise.all(ids.map(async id => await request(`${instance.url}/healthz`, 'GET', undefined, { connection: 'close', 'x-request-id': id })))
  if (answers.some(answer => answer.status !== 200)) throw new Error(`not every request answered 200: ${answers.map(answer => answer.status).join()}`)
  return await pidsThatAnswered(instance, ids)
}

t.test('WEB_CONCURRENCY=1 is one process, as without it: no primary, no worker number', async t => {
  const instance = await startInstance(t, { WEB_CONCURRENCY: '1', DATABASE_URL: temporarySqliteFor(t).url })
  t.same(await answeringPids(instance, 'single', 3), new Set([instance.process.pid]), 'the process started answers itself')
  t.notOk(instance.logs.some(entry => 'worker' in entry), 'no line names a worker')
  t.equal(instance.logs.filter(entry => entry.msg === 'database migrated').length, 1)
  t.equal(instance.logs.filter(entry => entry.msg === 'worker started').length, 0)
})

t.test('a worker killed with SIGKILL is replaced, and the service answers throughout', async t => {
  const instance = await startInstance(t, { WEB_CONCURRENCY: '2', DATABASE_URL: temporarySqliteFor(t).url })
  const listening = (entry: Record<string, unknown>): boolean => String(entry.msg).startsWith('Server listening at')
  const [killed, survivor] = instance.logs.filter(listening).map(entry => entry.pid as number)
  process.kill(killed!, 'SIGKILL')
  const [died] = await waitForLogs(instance, entry => entry.msg === 'worker died: starting another')
  t.match(died, { workerPid: killed, signal: 'SIGKILL', code: null }, 'the primary saw it die')
  const meanwhile = await answeringPids(instance, 'one-left', 4)
  t.ok(meanwhile.has(survivor) && !meanwhile.has(killed), 'the other worker answers meanwhile')
  const replacement = (await waitForLogs(instance, listening, 3))[2]?.pid
  t.not(replacement, killed)
  t.match(instance.logs.filter(entry => entry.msg === 'worker started').at(-1), { workerPid: replacement, worker: 3 }, 'the primary says which worker it started')
  t.same(await answeringPids(instance, 'replaced'), new Set([survivor, replacement]), 'both answer again: the survivor and the new worker')
})

t.test('SIGTERM to the primary drains every worker: the request in flight is answered, then exit 0', async t => {
  const sms = await startSmsSink()
  t.teardown(async () => { await sms.close() })
  let answerSms: (() => void) | undefined
  sms.behave((_message, response) => {
    answerSms = () => response.writeHead(202, { 'content-type': 'application/json' }).end('{}')
  })
  const instance = await startInstance(t, {
    WEB_CONCURRENCY: '2', NODE_ENV: 'production', DATABASE_URL: temporarySqliteFor(t).url, SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: sms.url,
    // The provider answers only when the test says: on a loaded machine that may be seconds.
    SMS_TIMEOUT_MS: '60000'
  })
  // The SMS provider holds the request open, so it is in flight when SIGTERM arrives.
  const inFlight = request(`${instance.url}/api/users/register/`, 'POST', { phone: '+79123456789' })
  while (answerSms === undefined) await new Promise(resolve => setTimeout(resolve, 20))
  instance.process.kill('SIGTERM')
  // Once both workers have stopped listening, the primary closes the port: new connections are
  // refused. A connection that arrives in the instant the last worker stops listening may be
  // handed to it, refused by it and left with the primary until it exits (node:cluster's
  // round-robin): a probe gives up waiting after 2 s and the next one is refused.
  let refused = false
  for (let i = 0; i < 500 && !refused; i++) {
    try {
      await fetch(`${instance.url}/healthz`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(2000) })
      await new Promise(resolve => setTimeout(resolve, 20))
    } catch (error) {
      refused = ((error as Error).cause as { code?: string } | undefined)?.code === 'ECONNREFUSED'
    }
  }
  t.ok(refused, 'new connections are refused')
  answerSms()
  const answer = await inFlight
  t.equal(answer.status, 200, 'the request in flight was answered')
  t.equal(answer.body.phone, '+79123456789')
  t.equal(await instance.exited, 0, 'the primary exits 0')
  const stopped = instance.logs.filter(entry => entry.msg === 'worker stopped')
  t.same(stopped.map(entry => entry.code), [0, 0], 'after both workers exited 0')
  t.match(instance.logs.at(-1), { msg: 'all workers stopped', exitCode: 0, pid: instance.process.pid })
})

t.test('workers that die as they start are restarted with a growing wait, then the service gives up with exit 1', async t => {
  // The port is taken: every worker's listen fails at once.
  const taken: Server = createServer()
  await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const port = String((taken.address() as { port: number }).port)
  const started = spawnInstance({ WEB_CONCURRENCY: '2', PORT: port, DATABASE_URL: temporarySqliteFor(t).url })
  t.teardown(() => { started.process.kill('SIGKILL') })
  t.equal(await started.exited, 1, 'the primary exits 1')
  const restarts = started.logs.filter(entry => entry.msg === 'worker died: starting another')
  t.same(restarts.map(entry => entry.restartInMs), [500, 1000, 2000, 4000], 'each restart waits twice as long as the one before')
  const fatal = started.logs.filter(entry => entry.level === 60)
  t.match(fatal.filter(entry => entry.fastDeaths !== undefined), [{ fastDeaths: 5, msg: /^5 workers in a row died before serving 10 s: giving up/ }], 'the primary gives up once')
  t.ok(fatal.filter(entry => entry.fastDeaths === undefined).every(entry => /^start-up failed/.test(String(entry.msg))), 'each worker that died said why in one line')
  t.match(started.logs.at(-1), { msg: 'all workers stopped', exitCode: 1 })
})
