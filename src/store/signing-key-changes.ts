import { createRequire } from 'node:module'
import type pg from 'pg'
import { sql } from 'kysely'
import { isPostgres, postgresConnectionString, type DbOrTransaction } from './database.js'

// How the instances hear that signing_keys changed (a revocation, a new key) without waiting for
// their periodic re-read: on PostgreSQL a NOTIFY on this channel; on SQLite a cheap stamp.
const channel = 'phonepass_signing_keys'

/** On PostgreSQL, tells every listening instance (on commit, when in a transaction); elsewhere nothing. */
export async function announceSigningKeyChange (db: DbOrTransaction): Promise<void> {
  if (isPostgres(db)) await sql`select pg_notify(${channel}, current_schema())`.execute(db)
}

/**
 * What changes whenever a key is added or revoked: rows are never deleted and a revocation is
 * never undone, so both counts only grow. One scan of a table of a few rows.
 */
export async function signingKeysStamp (db: DbOrTransaction): Promise<string> {
  const row = await db.selectFrom('signing_keys')
    .select(eb => [eb.fn.countAll<number>().as('keys'), eb.fn.count<number>('revoked_at').as('revoked')])
    .executeTakeFirstOrThrow()
  return `${Number(row.keys)}:${Number(row.revoked)}`
}

export interface KeyChangeListener {
  close: () => Promise<void>
}

interface ListenerEvents {
  /** A notification came, or the listener is back after a gap in which one may have been lost. */
  changed: () => void
  lost: (error: unknown, retryInMs: number) => void
}

const require = createRequire(import.meta.url)
const firstRetryMs = 1000
const lastRetryMs = 30_000

/**
 * LISTENs on a connection of its own (a pooled one may be handed to a query at any time, and
 * PgBouncer's transaction mode drops LISTEN). A dropped connection is opened again, waiting
 * 1 s, then twice as long each time up to 30 s; the periodic re-read covers the gap.
 */
export function listenForSigningKeyChanges (url: string, options: { pgSslMode?: string | undefined, connectTimeoutMs?: number }, events: ListenerEvents): KeyChangeListener {
  const pgModule = require('pg') as typeof import('pg')
  let client: pg.Client | undefined
  let retry: NodeJS.Timeout | undefined
  let retryMs = firstRetryMs
  let closed = false
  let connectedBefore = false

  function lost (error: unknown): void {
    const dropped = client
    client = undefined
    dropped?.removeAllListeners()
    dropped?.on('error', () => {})
    dropped?.end().catch(() => {})
    if (closed || retry !== undefined) return
    events.lost(error, retryMs)
    retry = setTimeout(() => {
      retry = undefined
      connect()
    }, retryMs).unref()
    retryMs = Math.min(retryMs * 2, lastRetryMs)
  }

  function connect (): void {
    const next = new pgModule.Client({
      connectionString: postgresConnectionString(url, options.pgSslMode),
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      application_name: 'phonepass signing-key changes'
    })
    client = next
    next.on('error', lost)
    next.on('end', () => { if (client === next) lost(new Error('connection ended')) })
    next.on('notification', message => { if (message.channel === channel) events.changed() })
    next.connect()
      .then(async () => await next.query(`listen ${channel}`))
      .then(() => {
        if (closed) return
        retryMs = firstRetryMs
        if (connectedBefore) events.changed()
        connectedBefore = true
      }, (error: unknown) => { if (client === next) lost(error) })
  }

  connect()
  return {
    async close () {
      closed = true
      clearTimeout(retry)
      const open = client
      client = undefined
      open?.removeAllListeners()
      open?.on('error', () => {})
      await open?.end().catch(() => {})
    }
  }
}
