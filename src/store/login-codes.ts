import type { DbOrTransaction } from './database.js'
import type { LoginCodeRow } from './schema.js'

export interface NewLoginCode {
  phone: string
  codeHash: string
  createdAt: number
  expiresAt: number
  ip: string | null
}

/**
 * Stores a new code for the phone, replacing the old one, unless the old one is younger than
 * `resendAfter`. One statement, so two parallel requests cannot both pass the cooldown.
 * Returns false when the cooldown refused it.
 */
export async function replaceLoginCode (db: DbOrTransaction, code: NewLoginCode, resendAfter: number): Promise<boolean> {
  const row = await db.insertInto('login_codes')
    .values({ phone: code.phone, code_hash: code.codeHash, attempts: 0, created_at: code.createdAt, expires_at: code.expiresAt, ip: code.ip })
    .onConflict(oc => oc.column('phone')
      .doUpdateSet({ code_hash: code.codeHash, attempts: 0, created_at: code.createdAt, expires_at: code.expiresAt, ip: code.ip })
      .where('login_codes.created_at', '<=', resendAfter))
    .returning('phone')
    .executeTakeFirst()
  return row !== undefined
}

export async function findLoginCode (db: DbOrTransaction, phone: string): Promise<LoginCodeRow | undefined> {
  return await db.selectFrom('login_codes').selectAll().where('phone', '=', phone).executeTakeFirst()
}

/**
 * Counts one try against the phone's live code before the code is compared, atomically: of
 * any number of parallel tries, at most `maxAttempts` get a row back.
 */
export async function countLoginAttempt (db: DbOrTransaction, phone: string, now: number, maxAttempts: number): Promise<{ codeHash: string, attempts: number } | undefined> {
  const row = await db.updateTable('login_codes')
    .set(eb => ({ attempts: eb('attempts', '+', 1) }))
    .where('phone', '=', phone)
    .where('attempts', '<', maxAttempts)
    .where('expires_at', '>', now)
    .returning(['code_hash', 'attempts'])
    .executeTakeFirst()
  return row === undefined ? undefined : { codeHash: row.code_hash, attempts: row.attempts }
}

/** Deletes this very code; true for the one caller that got it (single use). */
export async function deleteLoginCode (db: DbOrTransaction, phone: string, codeHash: string): Promise<boolean> {
  const row = await db.deleteFrom('login_codes')
    .where('phone', '=', phone)
    .where('code_hash', '=', codeHash)
    .returning('phone')
    .executeTakeFirst()
  return row !== undefined
}
