import type { DbOrTransaction } from './database.js'
import type { ChallengePurpose, PasskeyRow } from './schema.js'

export interface NewPasskey {
  id: string
  userId: number
  publicKey: string
  counter: number
  transports: readonly string[]
  deviceType: string
  backedUp: boolean
  name: string
  createdAt: number
}

/** Stores a new passkey; false when the credential id is registered already (to anyone). */
export async function insertPasskey (db: DbOrTransaction, passkey: NewPasskey): Promise<boolean> {
  const rows = await db.insertInto('passkeys').values({
    id: passkey.id,
    user_id: passkey.userId,
    public_key: passkey.publicKey,
    counter: passkey.counter,
    transports: JSON.stringify(passkey.transports),
    device_type: passkey.deviceType,
    backed_up: passkey.backedUp ? 1 : 0,
    name: passkey.name,
    created_at: passkey.createdAt,
    last_used_at: null
  }).onConflict(oc => oc.column('id').doNothing()).returning('id').execute()
  return rows.length > 0
}

export async function findPasskey (db: DbOrTransaction, id: string): Promise<PasskeyRow | undefined> {
  return await db.selectFrom('passkeys').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function listUserPasskeys (db: DbOrTransaction, userId: number): Promise<PasskeyRow[]> {
  return await db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at', 'asc').orderBy('id', 'asc').execute()
}

export async function countUserPasskeys (db: DbOrTransaction, userId: number): Promise<number> {
  const row = await db.selectFrom('passkeys').select(eb => eb.fn.countAll<number | string>().as('count')).where('user_id', '=', userId).executeTakeFirstOrThrow()
  return Number(row.count)
}

/**
 * Records a use: the counter the assertion carried, the backup flag it reported, the time. Only
 * while the passkey is still the user's (not removed meanwhile); false otherwise.
 */
export async function notePasskeyUse (db: DbOrTransaction, id: string, userId: number, use: { counter: number, backedUp: boolean, at: number }): Promise<boolean> {
  const row = await db.updateTable('passkeys')
    .set({ counter: use.counter, backed_up: use.backedUp ? 1 : 0, last_used_at: use.at })
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .returning('id')
    .executeTakeFirst()
  return row !== undefined
}

export async function renamePasskey (db: DbOrTransaction, id: string, userId: number, name: string): Promise<boolean> {
  const row = await db.updateTable('passkeys').set({ name }).where('id', '=', id).where('user_id', '=', userId).returning('id').executeTakeFirst()
  return row !== undefined
}

/** Removes the user's passkey; the row as it was, or undefined when there was none. */
export async function deletePasskey (db: DbOrTransaction, id: string, userId: number): Promise<PasskeyRow | undefined> {
  return await db.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).returningAll().executeTakeFirst()
}

export async function deleteUserPasskeys (db: DbOrTransaction, userId: number): Promise<number> {
  const rows = await db.deleteFrom('passkeys').where('user_id', '=', userId).returning('id').execute()
  return rows.length
}

export async function insertChallenge (db: DbOrTransaction, challenge: { challenge: string, purpose: ChallengePurpose, userId: number | null, sessionId: string | null, expiresAt: number }): Promise<void> {
  await db.insertInto('webauthn_challenges').values({
    challenge: challenge.challenge,
    purpose: challenge.purpose,
    user_id: challenge.userId,
    session_id: challenge.sessionId,
    expires_at: challenge.expiresAt
  }).execute()
}

/**
 * Spends a live challenge of this purpose: deleted and returned to exactly one caller, however
 * many present it at once (DELETE … RETURNING); undefined when it is unknown, spent, expired or
 * for another purpose.
 */
export async function spendChallenge (db: DbOrTransaction, challenge: string, purpose: ChallengePurpose, now: number): Promise<{ userId: number | null, sessionId: string | null } | undefined> {
  const row = await db.deleteFrom('webauthn_challenges')
    .where('challenge', '=', challenge)
    .where('purpose', '=', purpose)
    .where('expires_at', '>', now)
    .returning(['user_id', 'session_id'])
    .executeTakeFirst()
  return row === undefined ? undefined : { userId: row.user_id === null ? null : Number(row.user_id), sessionId: row.session_id }
}

/** Up to `batch` challenges that expired unspent (a ceremony given up). */
export async function deleteExpiredChallenges (db: DbOrTransaction, now: number, batch: number): Promise<number> {
  const due = db.selectFrom('webauthn_challenges').select('challenge').where('expires_at', '<=', now).limit(batch)
  const result = await db.deleteFrom('webauthn_challenges').where('challenge', 'in', due).executeTakeFirst()
  return Number(result.numDeletedRows)
}
