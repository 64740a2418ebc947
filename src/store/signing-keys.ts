import type { DbOrTransaction } from './database.js'
import type { NewSigningKey, SigningKeyRow } from './schema.js'
import { announceSigningKeyChange } from './signing-key-changes.js'

export async function listSigningKeys (db: DbOrTransaction): Promise<SigningKeyRow[]> {
  return await db.selectFrom('signing_keys').selectAll().orderBy('generation').execute()
}

/**
 * Inserts a key unless its generation (or kid) is taken: two instances creating the first
 * key, or rotating at once, both try, and the unique index lets exactly one in. True if this
 * one won.
 */
export async function insertSigningKey (db: DbOrTransaction, key: NewSigningKey): Promise<boolean> {
  const result = await db.insertInto('signing_keys').values(key).onConflict(oc => oc.doNothing()).executeTakeFirst()
  const won = Number(result.numInsertedOrUpdatedRows ?? 0n) === 1
  if (won) await announceSigningKeyChange(db)
  return won
}

/** Re-encrypts under the current secret, only if no other instance changed it meanwhile. */
export async function replacePrivateKey (db: DbOrTransaction, kid: string, previous: string, next: string): Promise<boolean> {
  const result = await db.updateTable('signing_keys').set({ private_key: next })
    .where('kid', '=', kid).where('private_key', '=', previous)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

export async function revokeSigningKey (db: DbOrTransaction, kid: string, now: number): Promise<boolean> {
  const result = await db.updateTable('signing_keys').set({ revoked_at: now })
    .where('kid', '=', kid).where('revoked_at', 'is', null)
    .executeTakeFirst()
  const revoked = Number(result.numUpdatedRows) === 1
  // Every instance is told at once: it must stop taking the key's tokens now, not at its next re-read.
  if (revoked) await announceSigningKeyChange(db)
  return revoked
}
