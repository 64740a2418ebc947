import { sql } from 'kysely'
import type { DbOrTransaction } from './database.js'
import { runPrepared } from './prepared.js'
import type { LoginCodeRow } from './schema.js'

export interface NewLoginCode {
  phone: string
  codeHash: string
  createdAt: number
  expiresAt: number
  ip: string | null
  /** The send the code goes out in (messages.send_id). */
  sendId: string
  /** The channel it is sent by first: a code reported undelivered by another lets it go at once. */
  channel: string
}

/**
 * Stores a new code for the phone, replacing the old one, unless the old one is younger than
 * `resendAfter` and was not reported undelivered by a channel other than this one. One
 * statement, so two parallel requests cannot both pass the cooldown: the first clears
 * undelivered_by and the time, and the others meet the cooldown again.
 * Returns false when the cooldown refused it.
 */
export async function replaceLoginCode (db: DbOrTransaction, code: NewLoginCode, resendAfter: number): Promise<boolean> {
  const rows = await runPrepared(db, 'replaceLoginCode', [code.phone, code.codeHash, code.createdAt, code.expiresAt, code.ip, code.sendId, resendAfter, code.channel],
    (phone, codeHash, createdAt, expiresAt, ip, sendId, cutoff, channel) => db.insertInto('login_codes')
      .values({ phone, code_hash: codeHash, created_at: createdAt, expires_at: expiresAt, ip, send_id: sendId })
      .onConflict(oc => oc.column('phone')
        .doUpdateSet(eb => ({
          code_hash: eb.ref('excluded.code_hash'),
          attempts: sql<number>`0`,
          created_at: eb.ref('excluded.created_at'),
          expires_at: eb.ref('excluded.expires_at'),
          ip: eb.ref('excluded.ip'),
          spent_at: sql<null>`null`,
          send_id: eb.ref('excluded.send_id'),
          undelivered_by: sql<null>`null`
        }))
        .where(eb => eb.or([
          eb('login_codes.created_at', '<=', cutoff),
          eb.and([eb('login_codes.undelivered_by', 'is not', null), eb('login_codes.undelivered_by', '<>', channel)])
        ])))
      .returning('phone'))
  return rows.length > 0
}

export async function findLoginCode (db: DbOrTransaction, phone: string): Promise<LoginCodeRow | undefined> {
  const [row] = await runPrepared(db, 'findLoginCode', [phone], p => db.selectFrom('login_codes').selectAll().where('phone', '=', p))
  return row
}

/**
 * Counts one try against the phone's live code before the code is compared, atomically: of
 * any number of parallel tries, at most `maxAttempts` get a row back.
 */
export async function countLoginAttempt (db: DbOrTransaction, phone: string, now: number, maxAttempts: number): Promise<{ codeHash: string, attempts: number } | undefined> {
  const [row] = await runPrepared(db, 'countLoginAttempt', [phone, maxAttempts, now], (p, max, at) =>
    db.updateTable('login_codes')
      .set(eb => ({ attempts: eb('attempts', '+', sql<number>`1`) }))
      .where('phone', '=', p)
      .where('spent_at', 'is', null)
      .where('attempts', '<', max)
      .where('expires_at', '>', at)
      .returning(['code_hash', 'attempts']))
  return row === undefined ? undefined : { codeHash: row.code_hash, attempts: row.attempts }
}

/**
 * Marks this very code spent; true for the one caller that got it (single use). The row stays,
 * with the time the code was sent, so the next code to the phone still waits out the spacing.
 */
export async function spendLoginCode (db: DbOrTransaction, phone: string, codeHash: string, now: number): Promise<boolean> {
  const rows = await runPrepared(db, 'spendLoginCode', [now, phone, codeHash], (at, p, hash) =>
    db.updateTable('login_codes')
      .set({ spent_at: at })
      .where('phone', '=', p)
      .where('code_hash', '=', hash)
      .where('spent_at', 'is', null)
      .returning('phone'))
  return rows.length > 0
}

/** Deletes this very code (one that was never delivered): no code, and no spacing, is left. */
export async function deleteLoginCode (db: DbOrTransaction, phone: string, codeHash: string): Promise<boolean> {
  const rows = await runPrepared(db, 'deleteLoginCode', [phone, codeHash], (p, hash) =>
    db.deleteFrom('login_codes')
      .where('phone', '=', p)
      .where('code_hash', '=', hash)
      .returning('phone'))
  return rows.length > 0
}

/**
 * Makes the code this request spent usable again: it was spent as a proof whose purpose then
 * failed (the change of number's code to the new number could not be sent), so the person may
 * type it again. Matched by the moment it was spent, so only this request's spending is undone.
 */
export async function unspendLoginCode (db: DbOrTransaction, phone: string, spentAt: number): Promise<boolean> {
  const rows = await db.updateTable('login_codes')
    .set({ spent_at: null })
    .where('phone', '=', phone)
    .where('spent_at', '=', spentAt)
    .returning('phone').execute()
  return rows.length > 0
}
