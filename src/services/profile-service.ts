import { normalizeInviteCode } from '../domain/codes.js'
import { DomainError } from '../domain/errors.js'
import {
  findProfile, findUserById, findUserByInviteCode, isInReferralChain, listInvitedPhones, lockReferralGraph, setInviter, type ProfileRow
} from '../store/users.js'
import { findDeletedPhone, readUserData } from '../store/accounts.js'
import type { DbOrTransaction } from '../store/database.js'
import type { ServiceContext } from './context.js'
import { hashPhone } from './keys.js'
import { createLimits } from './limits.js'
import { createEventRecorder } from './webhooks.js'

export type Profile = ProfileRow

export interface DataExport {
  exported_at: string
  profile: { id: number, phone: string, invite_code: string, created_at: string }
  invited_by: { phone: string | null, invite_code: string, activated_at: string | null } | null
  users_invited: Array<{ phone: string, invited_at: string | null }>
  sessions: Array<{ kind: string, method: string, created_at: string, last_seen_at: string, expires_at: string, revoked_at: string | null, ip: string | null, user_agent: string | null }>
  login_code: { sent_at: string, expires_at: string, tries: number, ip: string | null, used_at: string | null } | null
  events: Array<{ type: string, created_at: string, delivery: string, data: Record<string, unknown> }>
  passkeys: Array<{ id: string, name: string, device_type: string, backed_up: boolean, transports: string[], created_at: string, last_used_at: string | null }>
}

export function createProfileService (context: ServiceContext) {
  const { db, clock, config, keys } = context
  const limits = createLimits(context)
  const events = createEventRecorder(context)

  async function getProfile (userId: number): Promise<Profile> {
    const profile = await findOwnProfile(db, userId)
    // A live session of a deleted user: treat it like a bad token.
    if (profile === undefined) throw new DomainError('token_not_valid')
    return profile
  }

  /** The profile, read on `snapshot` (the read transaction of auth's authenticateAccessTokenAndRead). */
  async function findOwnProfile (snapshot: DbOrTransaction, userId: number): Promise<Profile | undefined> {
    return await findProfile(snapshot, userId, config.profileInvitedLimit)
  }

  /**
   * Once per user; never one's own code, never one that would close a cycle. One write
   * transaction, so of parallel activations exactly one succeeds.
   */
  async function activateInvite (userId: number, rawInviteCode: string): Promise<Profile> {
    const inviteCode = normalizeInviteCode(rawInviteCode)
    const refusal = await db.transaction().execute(async (trx) => {
      // Counted before the lookup, so parallel guesses cannot enumerate codes past the limit;
      // only a code that does not exist stays counted (so the refusal is returned, not thrown).
      const counted = await limits.countInviteTry(trx, userId)
      if (counted.refusal !== undefined) return counted.refusal
      const refused = await activate(trx, userId, inviteCode)
      if (refused?.code !== 'invite_not_found') await counted.taken.giveBack(trx)
      return refused
    })
    if (refusal !== undefined) throw refusal
    return await getProfile(userId)
  }

  /**
   * Once per user; never one's own code, never one that would close a cycle. Returns why
   * not, or sets the inviter.
   */
  async function activate (trx: DbOrTransaction, userId: number, inviteCode: string): Promise<DomainError | undefined> {
    await lockReferralGraph(trx)
    const me = await findUserById(trx, userId)
    // A live session of a deleted user, as getProfile treats it.
    if (me === undefined) return new DomainError('token_not_valid')
    if (me.invited_by !== null) return new DomainError('invite_already_activated', { field: 'invite_code' })
    // A phone whose deleted account had activated a code: its new account may not take another.
    if ((await findDeletedPhone(trx, keys.phone.map(key => hashPhone(key, me.phone))))?.hadActivated === true) {
      return new DomainError('invite_already_activated', { field: 'invite_code' })
    }
    const inviter = await findUserByInviteCode(trx, inviteCode)
    if (inviter === undefined) return new DomainError('invite_not_found', { field: 'invite_code' })
    if (inviter.id === userId) return new DomainError('invite_own_code', { field: 'invite_code' })
    if (await isInReferralChain(trx, inviter.id, userId)) return new DomainError('invite_cycle', { field: 'invite_code' })
    // Of parallel activations (one write transaction each), exactly one sets it.
    if (!await setInviter(trx, userId, inviter.id, clock.now())) {
      return new DomainError('invite_already_activated', { field: 'invite_code' })
    }
    await events.record(trx, 'invite.activated', { id: userId, phone: me.phone, activated_invite_code: inviter.invite_code, inviter_id: inviter.id })
    return undefined
  }

  /** The whole invited list a page at a time, for users who invited more than a profile shows. */
  async function listInvited (userId: number, limit: number, offset: number): Promise<{ count: number, phones: string[] }> {
    const profile = await getProfile(userId)
    const phones = offset >= profile.invitedCount ? [] : await listInvitedPhones(db, userId, limit, offset)
    return { count: profile.invitedCount, phones }
  }

  /** Everything stored about me, as JSON (GDPR articles 15 and 20): the API's and the pages' download. */
  async function exportData (userId: number): Promise<DataExport> {
    const data = await readUserData(db, userId)
    if (data === undefined) throw new DomainError('token_not_valid')
    const time = (ms: number | null): string | null => ms === null ? null : new Date(ms).toISOString()
    return {
      exported_at: new Date(clock.now()).toISOString(),
      profile: { id: data.user.id, phone: data.user.phone, invite_code: data.user.invite_code, created_at: time(data.user.created_at) ?? '' },
      invited_by: data.inviter === undefined
        ? null
        // A deleted inviter's phone is gone; their code stays.
        : { phone: data.inviter.deleted ? null : data.inviter.phone, invite_code: data.inviter.invite_code, activated_at: time(data.user.invited_at) },
      users_invited: data.invited.map(row => ({ phone: row.phone, invited_at: time(row.invited_at) })),
      sessions: data.sessions.map(row => ({
        kind: row.kind,
        method: row.method,
        created_at: time(row.created_at) ?? '',
        last_seen_at: time(row.last_seen_at) ?? '',
        expires_at: time(row.expires_at) ?? '',
        revoked_at: time(row.revoked_at),
        ip: row.ip,
        user_agent: row.user_agent
      })),
      login_code: data.loginCode === undefined
        ? null
        : { sent_at: time(data.loginCode.created_at) ?? '', expires_at: time(data.loginCode.expires_at) ?? '', tries: data.loginCode.attempts, ip: data.loginCode.ip, used_at: time(data.loginCode.spent_at) },
      events: data.events.map(row => ({ type: row.type, created_at: time(row.created_at) ?? '', delivery: row.status, data: (JSON.parse(row.payload) as { data: Record<string, unknown> }).data })),
      passkeys: data.passkeys.map(row => ({
        id: row.id,
        name: row.name,
        device_type: row.device_type,
        backed_up: row.backed_up === 1,
        transports: JSON.parse(row.transports) as string[],
        created_at: time(row.created_at) ?? '',
        last_used_at: time(row.last_used_at)
      }))
    }
  }

  return { getProfile, findOwnProfile, activateInvite, listInvited, exportData }
}

export type ProfileService = ReturnType<typeof createProfileService>
