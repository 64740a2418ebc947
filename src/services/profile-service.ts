import { normalizeInviteCode } from '../domain/codes.js'
import { DomainError } from '../domain/errors.js'
import {
  findProfile, findUserById, findUserByInviteCode, isInReferralChain, listInvitedPhones, lockReferralGraph, setInviter, type ProfileRow
} from '../store/users.js'
import type { ServiceContext } from './context.js'
import { createLimits } from './limits.js'

export type Profile = ProfileRow

export function createProfileService (context: ServiceContext) {
  const { db, clock, config } = context
  const limits = createLimits(context)

  async function getProfile (userId: number): Promise<Profile> {
    const profile = await findProfile(db, userId, config.profileInvitedLimit)
    // A live session of a deleted user: treat it like a bad token.
    if (profile === undefined) throw new DomainError('token_not_valid')
    return profile
  }

  /**
   * Once per user; never one's own code, never one that would close a cycle. One write
   * transaction, so of parallel activations exactly one succeeds.
   */
  async function activateInvite (userId: number, rawInviteCode: string): Promise<Profile> {
    const inviteCode = normalizeInviteCode(rawInviteCode)
    // Counted before the lookup, so parallel guesses cannot enumerate codes past the limit;
    // only a code that does not exist stays counted.
    const counted = await limits.countInviteTry(userId)
    try {
      await activate(userId, inviteCode)
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'invite_not_found')) await counted.giveBack()
      throw error
    }
    await counted.giveBack()
    return await getProfile(userId)
  }

  async function activate (userId: number, inviteCode: string): Promise<void> {
    await db.transaction().execute(async (trx) => {
      await lockReferralGraph(trx)
      const me = await findUserById(trx, userId)
      if (me?.invited_by != null) throw new DomainError('invite_already_activated', { field: 'invite_code' })
      const inviter = await findUserByInviteCode(trx, inviteCode)
      if (inviter === undefined) throw new DomainError('invite_not_found', { field: 'invite_code' })
      if (inviter.id === userId) throw new DomainError('invite_own_code', { field: 'invite_code' })
      if (await isInReferralChain(trx, inviter.id, userId)) throw new DomainError('invite_cycle', { field: 'invite_code' })
      if (!await setInviter(trx, userId, inviter.id, clock.now())) {
        throw new DomainError('invite_already_activated', { field: 'invite_code' })
      }
    })
  }

  /** The whole invited list a page at a time, for users who invited more than a profile shows. */
  async function listInvited (userId: number, limit: number, offset: number): Promise<{ count: number, phones: string[] }> {
    const profile = await getProfile(userId)
    const phones = offset >= profile.invitedCount ? [] : await listInvitedPhones(db, userId, limit, offset)
    return { count: profile.invitedCount, phones }
  }

  return { getProfile, activateInvite, listInvited }
}

export type ProfileService = ReturnType<typeof createProfileService>
