import { isIP } from 'node:net'
import type { Config } from '../../src/config.js'
import { normalizeInviteCode } from '../../src/domain/codes.js'
import { normalizePhone } from '../../src/domain/phone.js'
import type { Db } from '../../src/store/database.js'

/**
 * What the API's answers said, for the invariants that only the answers can tell: the
 * database alone cannot show that a code was activated twice if the second write replaced
 * the first, nor that a session was ended if nothing marks why.
 */
export interface Observed {
  /** User id → the inviter's id from the one activation answered 200, or null if none was. */
  inviters?: ReadonlyMap<number, number | null>
  /** E.164 phone → the user id every sign-in to it answered. */
  users?: ReadonlyMap<string, number>
  /** Sessions that must be over: signed out, or a spent refresh token presented again. */
  endedSessions?: Iterable<string>
}

/** The function's result, or undefined when it throws (a refused phone or code). */
function attempt (fn: () => string): string | undefined {
  try {
    return fn()
  } catch {
    return undefined
  }
}

interface Tap {
  same: (found: unknown, wanted: unknown, message: string) => boolean
}

/**
 * Reads the whole database (it is a test's small one) and lists every broken invariant:
 * one user per normalised phone, unique well-formed invite codes, no self-invite and no
 * cycle in the invited_by chains, an inviter set at most once (as the answers said), one
 * unspent refresh token per live app session and none for browser sessions, every ended
 * session revoked, client addresses that are addresses, counters never below zero, no code
 * tried past its limit. Empty when all hold.
 */
export async function findViolations (db: Db, config: Config, observed: Observed = {}, now = Date.now()): Promise<string[]> {
  const problems: string[] = []
  const users = await db.selectFrom('users').select(['id', 'phone', 'invite_code', 'invited_by', 'invited_at', 'deleted_at']).orderBy('id').execute()
  const byId = new Map(users.map(user => [user.id, user]))

  const phones = new Map<string, number[]>()
  const codes = new Map<string, number[]>()
  for (const user of users) {
    phones.set(user.phone, [...phones.get(user.phone) ?? [], user.id])
    codes.set(user.invite_code, [...codes.get(user.invite_code) ?? [], user.id])
    const rules = { defaultCountry: config.phoneDefaultCountry, isTestNumber: (phone: string) => config.testPhoneNumbers.has(phone) }
    // A deleted account's tombstone keeps the row (its invite code stays taken) under the phone "#<id>".
    if (user.deleted_at !== null) {
      if (user.phone !== `#${user.id}`) problems.push(`user ${user.id}: deleted, but its phone is ${JSON.stringify(user.phone)}`)
    } else if (attempt(() => normalizePhone(user.phone, rules)) !== user.phone) problems.push(`user ${user.id}: phone ${JSON.stringify(user.phone)} is not in normal form`)
    if (attempt(() => normalizeInviteCode(user.invite_code)) !== user.invite_code) problems.push(`user ${user.id}: invite code ${JSON.stringify(user.invite_code)} is malformed`)
    if (user.invited_by === user.id) problems.push(`user ${user.id} invited by themself`)
    if (user.invited_by !== null && !byId.has(user.invited_by)) problems.push(`user ${user.id} invited by missing user ${user.invited_by}`)
    if ((user.invited_by === null) !== (user.invited_at === null)) problems.push(`user ${user.id}: invited_by and invited_at disagree`)
  }
  for (const [phone, ids] of phones) if (ids.length > 1) problems.push(`phone ${phone} has users ${ids.join(', ')}`)
  for (const [code, ids] of codes) if (ids.length > 1) problems.push(`invite code ${code} shared by users ${ids.join(', ')}`)

  // Each chain of inviters, walked upwards, must end; a user met twice on one walk is a cycle.
  const acyclic = new Set<number>()
  for (const user of users) {
    const walk: number[] = []
    const onWalk = new Set<number>()
    let at: number | null = user.id
    while (at !== null && !acyclic.has(at)) {
      if (onWalk.has(at)) {
        problems.push(`invite cycle: ${walk.slice(walk.indexOf(at)).join(' → ')} → ${at}`)
        break
      }
      onWalk.add(at)
      walk.push(at)
      at = byId.get(at)?.invited_by ?? null
    }
    for (const id of walk) acyclic.add(id)
  }

  for (const [userId, inviter] of observed.inviters ?? []) {
    const stored = byId.get(userId)
    if (stored === undefined) problems.push(`user ${userId} the API answered for is missing`)
    else if (stored.invited_by !== inviter) problems.push(`user ${userId}: invited_by ${stored.invited_by} but the API's answers say ${inviter}`)
  }
  for (const [phone, userId] of observed.users ?? []) {
    const ids = phones.get(phone) ?? []
    if (ids.length !== 1 || ids[0] !== userId) problems.push(`phone ${phone}: users [${ids.join(', ')}] but the API answered user ${userId}`)
  }

  const sessions = await db.selectFrom('sessions').select(['id', 'user_id', 'kind', 'created_at', 'last_seen_at', 'expires_at', 'revoked_at', 'ip']).execute()
  const tokens = await db.selectFrom('refresh_tokens').select(['session_id', 'created_at', 'used_at']).execute()
  const unspent = new Map<string, number>()
  const anyTokens = new Set<string>()
  for (const token of tokens) {
    anyTokens.add(token.session_id)
    if (token.used_at === null) unspent.set(token.session_id, (unspent.get(token.session_id) ?? 0) + 1)
    else if (token.used_at < token.created_at) problems.push(`refresh token of session ${token.session_id} spent before it was made`)
  }
  const sessionById = new Map(sessions.map(session => [session.id, session]))
  for (const session of sessions) {
    const live = session.revoked_at === null && session.expires_at > now
    const count = unspent.get(session.id) ?? 0
    if (!byId.has(session.user_id)) problems.push(`session ${session.id} of missing user ${session.user_id}`)
    if (session.kind === 'web' && anyTokens.has(session.id)) problems.push(`browser session ${session.id} has refresh tokens`)
    // Rotation spends the old token and issues the new one in one transaction.
    if (session.kind === 'api' && count > 1) problems.push(`app session ${session.id} has ${count} unspent refresh tokens`)
    if (session.kind === 'api' && live && count === 0) problems.push(`live app session ${session.id} has no unspent refresh token`)
    if (session.last_seen_at < session.created_at) problems.push(`session ${session.id} seen before it began`)
    if (session.ip !== null && isIP(session.ip) === 0) problems.push(`session ${session.id}: client address ${JSON.stringify(session.ip.slice(0, 80))} is no address`)
  }
  for (const id of observed.endedSessions ?? []) {
    const session = sessionById.get(id)
    if (session === undefined) problems.push(`ended session ${id} is missing`)
    else if (session.revoked_at === null) problems.push(`session ${id} should be over but is not revoked`)
  }

  const counters = await db.selectFrom('limit_counters').select(['key', 'count']).where('count', '<', 0).execute()
  for (const counter of counters) problems.push(`limit counter ${counter.key} is ${counter.count}`)
  const loginCodes = await db.selectFrom('login_codes').select(['phone', 'attempts', 'ip']).execute()
  for (const code of loginCodes) {
    if (code.attempts > config.otp.maxAttempts) problems.push(`login code of ${code.phone} tried ${code.attempts} times (limit ${config.otp.maxAttempts})`)
    if (code.ip !== null && isIP(code.ip) === 0) problems.push(`login code of ${code.phone}: client address ${JSON.stringify(code.ip.slice(0, 80))} is no address`)
  }
  return problems
}

/** One assertion: the list of broken invariants is empty. */
export async function checkInvariants (t: Tap, db: Db, config: Config, observed: Observed = {}, now?: number): Promise<void> {
  t.same(await findViolations(db, config, observed, now), [], 'the database invariants hold')
}
