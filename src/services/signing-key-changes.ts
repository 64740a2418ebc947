import type { Db } from '../store/database.js'
import { isPostgres } from '../store/database.js'
import { listenForSigningKeyChanges, signingKeysStamp } from '../store/signing-key-changes.js'
import type { KeyLogger } from './signing-keys.js'

export interface KeyChangeWatch {
  close: () => Promise<void>
}

export interface KeyChangeOptions {
  databaseUrl: string
  pgSslMode?: string | undefined
  connectTimeoutMs?: number
  /** SQLite: how often the stamp is read (a worker, or the CLI, writes the file from another process). */
  stampPollMs: number
}

/**
 * Calls `changed` soon after any instance, worker or `phonepass keys` adds or revokes a key, so a
 * revocation reaches every process in about a second rather than at its next periodic re-read
 * (which stays, in case this misses one). PostgreSQL: LISTEN/NOTIFY. SQLite: every process reads
 * a stamp of the table (two counts) each `stampPollMs`, since the CLI is a process the workers
 * cannot be told by; an in-memory database has no other process to hear from.
 */
export async function watchSigningKeyChanges ({ db, logger }: { db: Db, logger: KeyLogger }, options: KeyChangeOptions, changed: () => Promise<void>): Promise<KeyChangeWatch> {
  const reload = (): void => { changed().catch((err: unknown) => { logger.warn({ err }, 'could not read the signing keys again') }) }
  if (isPostgres(db)) {
    const listener = listenForSigningKeyChanges(options.databaseUrl, options, {
      changed: reload,
      lost: (err, retryInMs) => { logger.warn({ err, retryInMs }, 'signing-key changes: listening connection lost; the periodic re-read covers the gap') }
    })
    return { close: listener.close }
  }
  if (options.databaseUrl === 'sqlite::memory:') return { close: async () => {} }
  // The stamp as the watch starts, before the keys are first read (app.ts): a change made at
  // any moment after is heard at the next read. Taken at the first read instead, a revocation
  // in a new process's first half-second went unheard until the periodic re-read.
  let last = await signingKeysStamp(db)
  let reading = false
  const timer = setInterval(() => {
    if (reading) return
    reading = true
    signingKeysStamp(db).then(stamp => {
      if (stamp !== last) reload()
      last = stamp
    }, (err: unknown) => { logger.warn({ err }, 'signing-key changes: could not read the stamp') }).finally(() => { reading = false })
  }, options.stampPollMs).unref()
  return { close: async () => { clearInterval(timer) } }
}
