import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { copyData, TargetNotEmptyError } from '../store/copy-data.js'
import { createDatabase } from '../store/database.js'
import { migrateToLatest } from '../store/migrator.js'

const usage = `usage: npm run migrate-data -- --from sqlite:<file> --to postgres://user:password@host:port/database [--force]

Copies users, invites, live sessions and their refresh tokens (and the admin audit log) in
one transaction; sign-ins survive the move. Both databases are migrated to the latest schema first. A target that
already has users is refused unless --force is given (rows are then merged by id; running
the copy again changes nothing). Stop the instances writing to the source first.`

const databaseUrl = /^(sqlite:.+|postgres(ql)?:\/\/.+)$/

/** The URL without its password, for messages. */
function shown (url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+):[^@]*@/, '$1:***@')
}

/** `npm run migrate-data -- --from … --to …`: returns the exit code; writes what it did. */
export async function migrateData (args: string[], out: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values
  try {
    ({ values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, force: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } }))
  } catch (error) {
    out(`${(error as Error).message}\n\n${usage}`)
    return 2
  }
  if (values.help) { out(usage); return 0 }
  const { from, to } = values
  if (from === undefined || to === undefined || !databaseUrl.test(from) || !databaseUrl.test(to)) {
    out(`--from and --to are both needed, each sqlite:<file> or postgres://…\n\n${usage}`)
    return 2
  }
  if (from === to) { out('--from and --to name the same database'); return 2 }
  const source = createDatabase(from, { postgresPoolSize: 1, pgSslMode: env.PGSSLMODE })
  const target = createDatabase(to, { postgresPoolSize: 1, pgSslMode: env.PGSSLMODE })
  try {
    await migrateToLatest(source)
    await migrateToLatest(target)
    const counts = await copyData(source, target, { now: Date.now(), force: values.force })
    out(`copied ${counts.users} users, ${counts.sessions} live sessions and ${counts.refreshTokens} refresh tokens (and ${counts.signingKeys} signing keys, ${counts.webhookEvents} webhook events not yet delivered) and ${counts.auditEntries} audit log entries from ${shown(from)} to ${shown(to)}`)
    return 0
  } catch (error) {
    if (error instanceof TargetNotEmptyError) {
      out(`refused: ${error.message}. Nothing was copied. Pass --force to merge into it (rows with the same ids are overwritten).`)
      return 1
    }
    out(`migrate-data failed, nothing was copied: ${String(error)}`)
    return 1
  } finally {
    await source.destroy()
    await target.destroy()
  }
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await migrateData(process.argv.slice(2), line => { process.stdout.write(line + '\n') })
}
