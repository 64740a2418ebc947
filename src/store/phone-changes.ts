import type { DbOrTransaction } from './database.js'

/** Records that the account's current number proved a move to `phone`, replacing any earlier proof. */
export async function provePhoneChange (db: DbOrTransaction, change: { userId: number, phone: string, provenAt: number, expiresAt: number }): Promise<void> {
  await db.insertInto('phone_changes')
    .values({ user_id: change.userId, phone: change.phone, proven_at: change.provenAt, expires_at: change.expiresAt })
    .onConflict(oc => oc.column('user_id').doUpdateSet({ phone: change.phone, proven_at: change.provenAt, expires_at: change.expiresAt }))
    .execute()
}

/** Whether a live proof lets the account move to this very number. */
export async function hasPhoneChangeProof (db: DbOrTransaction, userId: number, phone: string, now: number): Promise<boolean> {
  const row = await db.selectFrom('phone_changes').select('user_id')
    .where('user_id', '=', userId).where('phone', '=', phone).where('expires_at', '>', now)
    .executeTakeFirst()
  return row !== undefined
}

/** Spends the live proof for this number: true for the one caller that got it. */
export async function spendPhoneChangeProof (db: DbOrTransaction, userId: number, phone: string, now: number): Promise<boolean> {
  const rows = await db.deleteFrom('phone_changes')
    .where('user_id', '=', userId).where('phone', '=', phone).where('expires_at', '>', now)
    .returning('user_id').execute()
  return rows.length > 0
}

/**
 * Withdraws the account's proof: with `provenAt`, only that very one (its code to the new number
 * could not be sent; a later proof stays); without, any (the account is deleted).
 */
export async function withdrawPhoneChangeProof (db: DbOrTransaction, userId: number, provenAt?: number): Promise<void> {
  let query = db.deleteFrom('phone_changes').where('user_id', '=', userId)
  if (provenAt !== undefined) query = query.where('proven_at', '=', provenAt)
  await query.execute()
}
