import { execFile } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * A PostgreSQL server of the test's own, in a temporary directory, that the test may stop and
 * start at will: the machine's shared server is never stopped. Uses the installed PostgreSQL
 * binaries; as root it runs them as the `postgres` user, as initdb demands.
 */
export interface PgServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string
  start: () => Promise<void>
  stop: () => Promise<void>
  destroy: () => Promise<void>
}

function binDir (): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter(name => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a)) : []
  if (versions[0] === undefined) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql)')
  return join(root, versions[0], 'bin')
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

interface Options {
  /** Serve TLS with a fresh self-signed certificate. */
  ssl?: boolean
}

export async function startPgServer (options: Options = {}): Promise<PgServer> {
  const bin = binDir()
  const asRoot = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'phonepass-pg-'))
  const data = join(dir, 'data')
  const port = await freePort()
  async function pg (program: string, args: string[]): Promise<void> {
    const command = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] as const : [join(bin, program), args] as const
    await run(command[0], [...command[1]], { timeout: 60_000 })
  }
  async function givePostgres (path: string): Promise<void> {
    if (!asRoot) return
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
    chownSync(path, Number(uid), Number(gid))
  }
  await givePostgres(dir)
  await pg('initdb', ['-D', data, '--auth=trust', '--username=postgres', '--no-sync', '--encoding=UTF8'])
  const settings = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off', '-c max_connections=40']
  if (options.ssl === true) {
    await run('openssl', ['req', '-new', '-x509', '-days', '2', '-nodes', '-subj', '/CN=phonepass-test', '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.crt')], { timeout: 30_000 })
    chmodSync(join(dir, 'server.key'), 0o600)
    await givePostgres(join(dir, 'server.key'))
    await givePostgres(join(dir, 'server.crt'))
    settings.push('-c ssl=on', `-c ssl_cert_file=${join(dir, 'server.crt')}`, `-c ssl_key_file=${join(dir, 'server.key')}`)
  }
  const start = async (): Promise<void> => { await pg('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', settings.join(' '), '-w', 'start']) }
  // fast: ends every connection at once (57P01), as a crash or failover does to the app.
  const stop = async (): Promise<void> => { await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']) }
  await start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    async destroy () {
      await stop().catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
