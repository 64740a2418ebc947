import type { Config } from '../config.js'
import { deleteLoginCodes, deleteUserSessions, keepDeletedPhone, tombstoneUser } from '../store/accounts.js'
import type { DbOrTransaction } from '../store/database.js'
import { deleteUserPasskeys } from '../store/passkeys.js'
import { withdrawPhoneChangeProof } from '../store/phone-changes.js'
import type { UserRow } from '../store/schema.js'
import { findUserById, lockReferralGraph } from '../store/users.js'
import type { Clock } from './clock.js'
import { hashPhone, type Keys } from './keys.js'
import { createEventRecorder } from './webhooks.js'

/**
 * Deleting an account, one path for the person's own deletion (auth-service) and an admin's
 * (operator-service): the same rows go, the same things are kept, the same event is recorded.
 */
export function createAccountDeletion ({ config, clock, keys }: { config: Config, clock: Clock, keys: Pick<Keys, 'phone'> }) {
  const firstPhoneKey = keys.phone[0]
  if (firstPhoneKey === undefined) throw new Error('at least one phone key is needed')
  const phoneKey: Buffer = firstPhoneKey
  const events = createEventRecorder({ config, clock })

  /**
   * In the caller's transaction: the row made a tombstone (the invite code stays reserved),
   * the phone's keyed hash kept, every session and refresh token, the login code, a pending
   * change of number's proof and the passkeys deleted,
   * user.deleted recorded. The referral graph's lock orders it with an activation of this
   * account's code: that lands first and stays, or finds no such code. Returns the user as it
   * was; undefined when there is no account to delete (deleted already, or, with
   * `expectedPhone`, moved to another number meanwhile).
   */
  async function eraseAccount (trx: DbOrTransaction, userId: number, now: number, expectedPhone?: string): Promise<UserRow | undefined> {
    await lockReferralGraph(trx)
    const current = await findUserById(trx, userId)
    if (current === undefined || current.deleted_at !== null) return undefined
    if (expectedPhone !== undefined && current.phone !== expectedPhone) return undefined
    if (!await tombstoneUser(trx, userId, now)) return undefined
    await keepDeletedPhone(trx, hashPhone(phoneKey, current.phone), now, current.invited_by !== null)
    await deleteUserSessions(trx, userId)
    await deleteLoginCodes(trx, current.phone)
    await withdrawPhoneChangeProof(trx, userId)
    // The passkeys go with the account: a new account of this phone starts without them.
    await deleteUserPasskeys(trx, userId)
    await events.record(trx, 'user.deleted', { id: userId, phone: current.phone })
    return current
  }

  return { eraseAccount }
}

export type AccountDeletion = ReturnType<typeof createAccountDeletion>
