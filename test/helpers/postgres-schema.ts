import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** This machine's PostgreSQL test database (trust auth); TEST_POSTGRES_URL overrides it. */
export const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/**
 * A schema of its own in the test database, dropped at teardown, and a DATABASE_URL whose
 * connections use it. Register it before the apps or databases that use it: teardowns run
 * last-in first-out, so they are closed before the schema is dropped.
 */
export async function createPostgresSchema (t: { teardown: (fn: () => unknown) => void }): Promise<string> {
  const schema = `test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: postgresUrl })
  await admin.connect()
  await admin.query(`create schema ${schema}`)
  t.teardown(async () => {
    await admin.query(`drop schema ${schema} cascade`)
    await admin.end()
  })
  const url = new URL(postgresUrl)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}
