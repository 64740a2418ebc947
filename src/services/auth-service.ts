import { generateInviteCode, generateOneTimeCode } from '../domain/codes.js'
import { DomainError } from '../domain/errors.js'
import { checkSmsDestination, countryOfPhone, maskPhone, normalizePhone } from '../domain/phone.js'
import type { Channel } from '../channels/settings.js'
import { translate, type Locale } from '../i18n/catalogue.js'
import { countLoginAttempt, deleteLoginCode, findLoginCode, replaceLoginCode, spendLoginCode, unspendLoginCode } from '../store/login-codes.js'
import { hasPhoneChangeProof, provePhoneChange, spendPhoneChangeProof, withdrawPhoneChangeProof } from '../store/phone-changes.js'
import type { SessionKind, SessionRow } from '../store/schema.js'
import {
  findLiveSession, findRefreshToken, listLiveSessions, revokeSession, revokeUserSessions, spendRefreshToken, touchSession
} from '../store/sessions.js'
import { deleteDeletedPhonesBefore, findDeletedPhone, keepDeletedPhone, movePhone } from '../store/accounts.js'
import { findUserById, findUserByPhone, insertUser, lockUnblockedUser } from '../store/users.js'
import { isDatabaseUnavailable, readTogether, type DbOrTransaction } from '../store/database.js'
import type { UserRow } from '../store/schema.js'
import type { ClientInfo, ServiceContext } from './context.js'
import { createAccountDeletion } from './account-deletion.js'
import { createDeviceTokens } from './device-tokens.js'
import { createLimits } from './limits.js'
import { createEventRecorder } from './webhooks.js'
import { createFraudGuard } from './fraud-guard.js'
import { createSignInSessions, type TokenPair } from './sign-in-sessions.js'
import { hashOneTimeCode, hashPhone, hashOpaqueToken, oneTimeCodeMatches, sessionForLog } from './keys.js'

export interface CodeRequested {
  phone: string
  expiresIn: number
  resendIn: number
  /** The channel the code went by (a test number's: the first of its order, nothing is sent). */
  channel: Channel
  /** The channels this number may ask for its next code by, in order. */
  channels: Channel[]
}

export type { TokenPair } from './sign-in-sessions.js'

export interface SignedIn {
  userId: number
  sessionId: string
  /** True when this sign-in created the account. */
  created: boolean
  /** For app (api) sessions: the first access and refresh tokens. */
  tokens?: TokenPair
  /** Proof that this device signed in to this phone: present it next time (ClientInfo.deviceToken). */
  deviceToken: string
}

export interface Authenticated {
  userId: number
  sessionId: string
}

const maxInviteCodeTries = 10
const lastSeenEveryMs = 5 * 60_000

function secondsUntil (moment: number, now: number): number {
  return Math.max(1, Math.ceil((moment - now) / 1000))
}

export function createAuthService (context: ServiceContext) {
  const { db, config, clock, keys, sms, delivery, accessTokens, random, logger } = context
  const otpKey = keys.otp[0]
  if (otpKey === undefined) throw new Error('at least one OTP key is needed')
  const signingKey: Buffer = otpKey
  const firstPhoneKey = keys.phone[0]
  if (firstPhoneKey === undefined) throw new Error('at least one phone key is needed')
  const phoneKey: Buffer = firstPhoneKey
  const codeFormat = new RegExp(`^[0-9]{${config.otp.length}}$`)
  const limits = createLimits(context)
  const deviceTokens = createDeviceTokens(keys.device, config.deviceTokenTtlDays, clock)
  const events = createEventRecorder(context)
  const accountDeletion = createAccountDeletion(context)
  const fraudGuard = createFraudGuard(context)
  const { openSession, issueRefreshToken, tokenPair } = createSignInSessions(context)

  function normalize (rawPhone: string): string {
    return normalizePhone(rawPhone, {
      defaultCountry: config.phoneDefaultCountry,
      isTestNumber: phone => config.testPhoneNumbers.has(phone)
    })
  }

  /**
   * Sends a new code, replacing the old one. Known and unknown phones take the same path:
   * no account is looked up, so the answer tells nothing about who has signed up.
   */
  async function requestCode (rawPhone: string, client: ClientInfo, locale: Locale, channel?: Channel): Promise<CodeRequested> {
    const phone = normalize(rawPhone)
    const fixedCode = config.testPhoneNumbers.get(phone)
    const country = fixedCode === undefined ? checkSmsDestination(phone, config.sms.allowedCountries) : undefined
    // Which channels, in which order; refused here when the one asked for is not offered.
    // A test number takes its country's order too, so its answer looks like any number's.
    const sendPlan = delivery.plan(country ?? countryOfPhone(phone), channel)
    const deviceId = deviceTokens.verify(client.deviceToken, phone)
    // Test numbers send nothing: the fraud guard neither counts nor holds them.
    const screening = country === undefined ? undefined : await fraudGuard.screen(phone, country, deviceId !== undefined, { solution: client.challenge, ip: client.ip })
    const now = clock.now()
    const code = fixedCode ?? generateOneTimeCode(config.otp.length, random)
    const codeHash = hashOneTimeCode(signingKey, phone, code)
    // Test numbers send no SMS, so they are exempt from the send cooldown.
    const resendAfter = fixedCode === undefined ? now - config.otp.resendSeconds * 1000 : now
    // The code, the quotas, the cooldown and the SMS budget in one transaction: a refusal by
    // any of them rolls back the code and every count. Refused in this order: a quota, the
    // cooldown, the SMS budget.
    // What is given back if the SMS then fails: the phone's quota and the hour's SMS budget.
    const refundable = await db.transaction().execute(async (trx) => {
      // A call first is counted on the voice caps too, in the same statement (channels/delivery.ts).
      const guardCounts = delivery.firstChannelCounts(phone, sendPlan, screening === undefined ? undefined : await fraudGuard.takeSend(trx, screening, phone, client.challenge))
      const device = await knownDevice(trx, phone, deviceId, client.deviceToken)
      const stored = await replaceLoginCode(trx, {
        phone, codeHash, createdAt: now, expiresAt: now + config.otp.ttlSeconds * 1000, ip: client.ip, sendId: sendPlan.sendId, channel: sendPlan.order[0] ?? 'sms'
      }, resendAfter)
      const send = await limits.takeCodeSend(trx, phone, device, client.ip, fixedCode !== undefined, guardCounts)
      if (send.quotaRefusal !== undefined) throw send.quotaRefusal
      if (!stored) {
        const current = await findLoginCode(trx, phone)
        const retryAfter = secondsUntil((current?.created_at ?? now) + config.otp.resendSeconds * 1000, now)
        throw new DomainError('resend_too_soon', { field: 'phone', retryAfter })
      }
      if (send.smsCapRefusal !== undefined) throw send.smsCapRefusal
      return send.taken
    }).catch(async (error: unknown) => {
      if (error instanceof DomainError && error.code === 'sms_cap_reached') await limits.smsCapRefused()
      throw error
    })
    let usedChannel = sendPlan.order[0] ?? 'sms'
    if (fixedCode === undefined) {
      const minutes = Math.round(config.otp.ttlSeconds / 60)
      try {
        usedChannel = (await delivery.deliver(sendPlan, { to: phone, code, locale, minutes })).channel
      } catch (error) {
        // A code that was not delivered must not be usable, nor hold the cooldown; and it is
        // not the person's fault, so the phone's quota is given back (the IP's stays charged),
        // nor the service's: an outage must not use up the hour's SMS cap.
        await db.transaction().execute(async (trx) => {
          await deleteLoginCode(trx, phone, codeHash)
          await refundable.giveBack(trx)
        })
        logger.warn({ err: error, phone: maskPhone(phone), channels: sendPlan.order }, 'code not sent by any channel')
        throw new DomainError('sms_unavailable', { field: 'phone', retryAfter: 30 })
      }
    }
    // A test number keeps out of the cooldown, but its answer is any number's: from outside,
    // it cannot be picked out by a resend_in of 0.
    return { phone, expiresIn: config.otp.ttlSeconds, resendIn: config.otp.resendSeconds, channel: usedChannel, channels: [...sendPlan.offered] }
  }

  async function explainMissingTry (trx: DbOrTransaction, phone: string, now: number): Promise<DomainError> {
    const current = await findLoginCode(trx, phone)
    if (current === undefined || current.spent_at !== null) return new DomainError('code_not_found', { field: 'auth_code' })
    if (current.expires_at <= now) return new DomainError('code_expired', { field: 'auth_code' })
    const retryAfter = secondsUntil(current.created_at + config.otp.resendSeconds * 1000, now)
    return new DomainError('too_many_attempts', { field: 'auth_code', retryAfter, attemptsLeft: 0 })
  }

  async function findOrCreateUser (trx: DbOrTransaction, phone: string, now: number): Promise<{ user: UserRow, created: boolean }> {
    for (let i = 0; i < maxInviteCodeTries; i++) {
      const existing = await findUserByPhone(trx, phone)
      if (existing !== undefined) return { user: existing, created: false }
      const user = await insertUser(trx, { phone, inviteCode: generateInviteCode(random), createdAt: now })
      if (user !== undefined) return { user, created: true }
      // The invite code was taken (or the phone, by a parallel sign-in): look again.
    }
    throw new Error('no free invite code after several tries')
  }

  /**
   * The device's id, unless the phone's account was deleted after its token was issued: the
   * device of a deleted account is a stranger to the phone's next one. Looked up only when a
   * genuine token came.
   */
  async function knownDevice (trx: DbOrTransaction, phone: string, deviceId: string | undefined, token: string | undefined): Promise<string | undefined> {
    if (deviceId === undefined) return undefined
    const deleted = await findDeletedPhone(trx, keys.phone.map(key => hashPhone(key, phone)))
    if (deleted === undefined) return deviceId
    const issuedAt = deviceTokens.issuedAt(token)
    return issuedAt !== undefined && issuedAt > deleted.deletedAt ? deviceId : undefined
  }

  /**
   * Counts the try, compares and spends the code; the refusal, if any, is returned so the
   * caller's transaction commits the counts. Counted on the phone's (or device's) and the IP's
   * budgets, and on the code, before the comparison; a right code's try is given back.
   */
  async function spendRightCode (trx: DbOrTransaction, phone: string, code: string, deviceId: string | undefined, ip: string, now: number): Promise<DomainError | undefined> {
    const counted = await limits.countCodeTry(trx, phone, deviceId, ip)
    if (counted.refusal !== undefined) return counted.refusal
    const attempt = await countLoginAttempt(trx, phone, now, config.otp.maxAttempts)
    if (attempt === undefined) return await explainMissingTry(trx, phone, now)
    if (!oneTimeCodeMatches(keys.otp, phone, code, attempt.codeHash)) {
      return new DomainError('code_invalid', { field: 'auth_code', attemptsLeft: config.otp.maxAttempts - attempt.attempts })
    }
    // This transaction holds the code's row since the update above: it cannot be gone.
    if (!await spendLoginCode(trx, phone, attempt.codeHash, now)) throw new Error('the login code was spent under its lock')
    await counted.taken.giveBack(trx)
    // An entered code tells the fraud guard its destination's codes reach people.
    if (!config.testPhoneNumbers.has(phone)) await fraudGuard.countEntered(trx, phone)
    return undefined
  }

  /** The account's current number, or token_not_valid when the account is gone. */
  async function currentPhoneOf (db: DbOrTransaction, userId: number): Promise<string> {
    const user = await findUserById(db, userId)
    if (user === undefined || user.deleted_at !== null) throw new DomainError('token_not_valid')
    return user.phone
  }

  /** The new number of a change, normalised and checked as register checks a destination. */
  function newPhoneFor (rawPhone: string, currentPhone: string): string {
    const phone = normalize(rawPhone)
    if (phone === currentPhone) throw new DomainError('phone_unchanged', { field: 'phone' })
    if (!config.testPhoneNumbers.has(phone)) checkSmsDestination(phone, config.sms.allowedCountries)
    return phone
  }

  /**
   * Proof by the account's current number, for what must not rest on a token or cookie alone (a
   * deletion, a change of number): its fresh code is spent by the sign-in's rules and limits, and
   * `then` runs in the same transaction. A refusal of either is thrown after the commit, so the
   * counts of a wrong code stay.
   */
  async function proveByCurrentPhone (phone: string, code: string, client: ClientInfo, then: (trx: DbOrTransaction, now: number) => Promise<DomainError | undefined>): Promise<{ now: number }> {
    if (!codeFormat.test(code)) throw new DomainError('code_invalid', { field: 'auth_code' })
    const deviceId = deviceTokens.verify(client.deviceToken, phone)
    const now = clock.now()
    const refusal = await db.transaction().execute(async (trx) => {
      const refused = await spendRightCode(trx, phone, code, await knownDevice(trx, phone, deviceId, client.deviceToken), client.ip, now)
      return refused ?? await then(trx, now)
    })
    if (refusal !== undefined) throw refusal
    return { now }
  }

  /**
   * The pages' first step of a change of number: the new number is checked (nothing is sent to
   * it yet) and a code goes to the account's current number, the proof that step two asks for.
   * Apps ask for that code with register, as for a deletion.
   */
  async function startPhoneChange (userId: number, rawPhone: string, client: ClientInfo, locale: Locale): Promise<{ newPhone: string, sent: CodeRequested }> {
    const currentPhone = await currentPhoneOf(db, userId)
    const newPhone = newPhoneFor(rawPhone, currentPhone)
    return { newPhone, sent: await requestCode(currentPhone, client, locale) }
  }

  /**
   * Step two: a fresh code sent to the account's current number proves the change (a stolen
   * access token or page cookie alone cannot move the account). In one transaction the code is
   * spent, by the sign-in's rules and limits, and the proof recorded for this new number; then
   * a code goes to the new number, with register's checks and limits. When that send is
   * refused or fails, the proof is withdrawn and the current number's code made usable again.
   * Whether the new number has an account is not said here (any signed-in user could ask about
   * any number); it is said at the last step, to whoever proves they hold it.
   */
  async function requestPhoneChangeCode (userId: number, rawPhone: string, currentCode: string, client: ClientInfo, locale: Locale): Promise<CodeRequested> {
    const currentPhone = await currentPhoneOf(db, userId)
    const newPhone = newPhoneFor(rawPhone, currentPhone)
    const { now } = await proveByCurrentPhone(currentPhone, currentCode, client, async (trx, now) => {
      // The code was the number's, but the account may have moved or gone meanwhile.
      if (await currentPhoneOf(trx, userId).catch(() => undefined) !== currentPhone) return new DomainError('token_not_valid')
      await provePhoneChange(trx, { userId, phone: newPhone, provenAt: now, expiresAt: now + config.otp.ttlSeconds * 1000 })
      return undefined
    })
    try {
      // The device token is the current number's: the new number's budgets are its own.
      return await requestCode(newPhone, { ...client, deviceToken: undefined }, locale)
    } catch (error) {
      await db.transaction().execute(async (trx) => {
        await withdrawPhoneChangeProof(trx, userId, now)
        await unspendLoginCode(trx, currentPhone, now)
      })
      throw error
    }
  }

  /**
   * Step three: the new number's code moves the account, if the current number proved this very
   * change (step two) and the proof is live. One transaction: the code spent, the proof spent
   * (one move per proof), the phone moved (refused with 409 phone_taken when the number has an
   * account), the old phone's keyed hash kept as on a deletion (its device tokens are the old
   * number's; a code activated stays counted against it), every other session of the account
   * ended, user.phone_changed recorded. Then a short SMS tells the old number.
   */
  async function changePhone (userId: number, keepSessionId: string, rawPhone: string, code: string, client: ClientInfo, locale: Locale): Promise<string> {
    const phone = normalize(rawPhone)
    if (!codeFormat.test(code)) throw new DomainError('code_invalid', { field: 'auth_code' })
    const deviceId = deviceTokens.verify(client.deviceToken, phone)
    const now = clock.now()
    const outcome = await db.transaction().execute(async (trx) => {
      // Checked before the code is counted: without a proof, no try at the code is spent.
      if (!await hasPhoneChangeProof(trx, userId, phone, now)) return { refusal: new DomainError('phone_change_unproven', { field: 'auth_code' }) }
      const refused = await spendRightCode(trx, phone, code, await knownDevice(trx, phone, deviceId, client.deviceToken), client.ip, now)
      if (refused !== undefined) return { refusal: refused }
      if (!await spendPhoneChangeProof(trx, userId, phone, now)) return { refusal: new DomainError('phone_change_unproven', { field: 'auth_code' }) }
      const user = await findUserById(trx, userId)
      if (user === undefined || user.deleted_at !== null) return { refusal: new DomainError('token_not_valid') }
      const moved = await movePhone(trx, userId, phone)
      if (moved === 'taken') return { refusal: new DomainError('phone_taken', { field: 'phone' }) }
      if (moved === 'gone') return { refusal: new DomainError('token_not_valid') }
      await keepDeletedPhone(trx, hashPhone(phoneKey, user.phone), now, user.invited_by !== null)
      const signedOut = await revokeUserSessions(trx, userId, now, { keep: keepSessionId })
      await events.record(trx, 'user.phone_changed', { id: userId, phone, previous_phone: user.phone })
      return { previous: user.phone, signedOut }
    })
    if (outcome.refusal !== undefined) throw outcome.refusal
    const previous = outcome.previous
    if (!config.testPhoneNumbers.has(previous)) {
      // Best effort: the move is done; a lost notice is logged, not a failed request.
      await sms.send({ to: previous, code: '', body: translate(locale, 'sms_phone_changed', { phone }) }).catch((error: unknown) => {
        logger.warn({ err: error, phone: maskPhone(previous), provider: sms.name }, 'notice of a number change not sent')
      })
    }
    logger.info({ userId, phone: maskPhone(phone), signedOut: outcome.signedOut }, 'phone changed')
    return phone
  }

  /** The code that proves a deletion, sent to the account's own phone (the pages' first step). */
  async function requestDeletionCode (userId: number, client: ClientInfo, locale: Locale): Promise<CodeRequested> {
    const user = await findUserById(db, userId)
    if (user === undefined || user.deleted_at !== null) throw new DomainError('token_not_valid')
    return await requestCode(user.phone, client, locale)
  }

  /**
   * Deletes the account, proven by a fresh code sent to its phone. One transaction: the code
   * spent and the account erased as account-deletion.ts erases it (the admin's deletion too).
   */
  async function deleteAccount (userId: number, code: string, client: ClientInfo): Promise<void> {
    const phone = await currentPhoneOf(db, userId)
    await proveByCurrentPhone(phone, code, client, async (trx, now) => {
      if (await accountDeletion.eraseAccount(trx, userId, now, phone) === undefined) return new DomainError('token_not_valid')
      return undefined
    })
    logger.info({ userId }, 'account deleted')
  }

  /**
   * Checks the code and signs in, creating the account on the first sign-in. The try is
   * counted by atomic conditional updates before the code is compared, so parallel guesses
   * cannot slip past the limit; the code is spent and the session opened in the same
   * transaction, so one code gives one session. One commit: a wrong code's counts are
   * committed and its refusal thrown after the commit; a right code gives its try back.
   */
  async function verifyCode (rawPhone: string, code: string, kind: SessionKind, client: ClientInfo): Promise<SignedIn> {
    const phone = normalize(rawPhone)
    if (!codeFormat.test(code)) {
      throw new DomainError('code_invalid', { field: 'auth_code' })
    }
    const deviceId = deviceTokens.verify(client.deviceToken, phone)
    const now = clock.now()
    const outcome = await db.transaction().execute(async (trx) => {
      const device = await knownDevice(trx, phone, deviceId, client.deviceToken)
      const refused = await spendRightCode(trx, phone, code, device, client.ip, now)
      if (refused !== undefined) return { refusal: refused }
      const { user, created } = await findOrCreateUser(trx, phone, now)
      // Told only to whoever holds the phone (the code was right); committed like a sign-in, so
      // the code is spent. The lock orders this sign-in with a block of the same account.
      if (!await lockUnblockedUser(trx, user.id)) return { refusal: new DomainError('account_blocked') }
      const sessionId = await openSession(trx, user.id, kind, client, now)
      // In the sign-in's transaction: the events exist exactly when the sign-in committed.
      if (created) await events.record(trx, 'user.created', { id: user.id, phone: user.phone, invite_code: user.invite_code })
      await events.record(trx, 'user.signed_in', { id: user.id, phone: user.phone, kind, method: 'phone' })
      const refresh = kind === 'api' ? await issueRefreshToken(trx, sessionId, now) : undefined
      // A device new to this phone gets an identity of its own while the phone's day allows.
      const issuedDevice = device ?? (await limits.takeNewDevice(trx, phone) ? undefined : deviceTokens.sharedId(phone))
      return { signedIn: { userId: user.id, sessionId, created, refresh, device: issuedDevice } }
    })
    if (outcome.refusal !== undefined) throw outcome.refusal
    const { refresh, device, ...signedIn } = outcome.signedIn
    logger.info({ userId: signedIn.userId, session: sessionForLog(signedIn.sessionId), kind, created: signedIn.created }, 'signed in')
    const result = { ...signedIn, deviceToken: deviceTokens.issue(phone, device) }
    return refresh === undefined ? result : { ...result, tokens: tokenPair(result.userId, result.sessionId, refresh) }
  }

  async function requireLiveSession (sessionId: string): Promise<SessionRow> {
    const now = clock.now()
    const session = await findLiveSession(db, sessionId, now)
    if (session === undefined) throw new DomainError('token_not_valid')
    await noteLastSeen(session, now)
    return session
  }

  async function noteLastSeen (session: SessionRow, now: number): Promise<void> {
    // "Last seen" for the person's list of sessions, written at most every few minutes so a
    // busy session does not turn every read into a write.
    if (now - session.last_seen_at >= lastSeenEveryMs) {
      // Optional: a busy or full database does not fail the read for it; the next read retries.
      await touchSession(db, session.id, now).catch((error: unknown) => {
        if (!isDatabaseUnavailable(error)) throw error
        logger.warn({ err: error, session: sessionForLog(session.id) }, 'last-seen time not written: the database is unavailable')
      })
    }
  }

  /** A bearer token is good only while its session lives, so logout works at once. */
  async function authenticateAccessToken (token: string): Promise<Authenticated> {
    const claims = await accessTokens.verify(token)
    const session = await requireLiveSession(claims.sessionId)
    if (session.user_id !== claims.userId) throw new DomainError('token_not_valid')
    return { userId: session.user_id, sessionId: session.id }
  }

  /**
   * authenticateAccessToken, with `read` run for the token's user in the same read transaction
   * as the session's lookup (readTogether): one snapshot, and on SQLite one read lock. GET
   * /api/users/me/ reads the profile so. `read` answers undefined when there is nothing of its
   * user to read (a live session of a deleted user): the token is then not valid either.
   */
  async function authenticateAccessTokenAndRead<T> (token: string, read: (db: DbOrTransaction, userId: number) => Promise<T | undefined>): Promise<{ authenticated: Authenticated, read: T }> {
    const claims = await accessTokens.verify(token)
    const now = clock.now()
    const found = await readTogether(db, async (snapshot) => {
      const session = await findLiveSession(snapshot, claims.sessionId, now)
      // Nothing is read for a session that is gone or not the token's user's.
      if (session === undefined || session.user_id !== claims.userId) return undefined
      const result = await read(snapshot, session.user_id)
      return result === undefined ? undefined : { session, result }
    })
    if (found === undefined) throw new DomainError('token_not_valid')
    await noteLastSeen(found.session, now)
    return { authenticated: { userId: found.session.user_id, sessionId: found.session.id }, read: found.result }
  }

  async function authenticateSession (sessionId: string): Promise<Authenticated> {
    const session = await requireLiveSession(sessionId)
    return { userId: session.user_id, sessionId: session.id }
  }

  /**
   * Rotation: each refresh token works once. A spent one presented again means it was
   * copied, so the whole session is revoked and both holders must sign in again.
   */
  async function refreshTokens (refresh: string): Promise<TokenPair> {
    const tokenHash = hashOpaqueToken(refresh)
    const now = clock.now()
    const rotated = await db.transaction().execute(async (trx) => {
      const sessionId = await spendRefreshToken(trx, tokenHash, now)
      if (sessionId === undefined) return { spent: await findRefreshToken(trx, tokenHash) }
      const session = await findLiveSession(trx, sessionId, now)
      if (session === undefined) return {}
      return { session, refresh: await issueRefreshToken(trx, sessionId, now) }
    })
    const { spent } = rotated
    if (spent?.used_at != null) {
      // An app that refreshes from several requests at once presents one token several times
      // within moments: only one wins, and the session is kept for it (as simplejwt's blacklist
      // kept it). Presented later, a spent token means a copy is in other hands: the session ends.
      if (now - spent.used_at < config.refreshReuseGraceSeconds * 1000) {
        logger.info({ session: sessionForLog(spent.session_id) }, 'spent refresh token presented again within the grace: refused, session kept')
      } else {
        await revokeSession(db, spent.session_id, now)
        logger.warn({ session: sessionForLog(spent.session_id) }, 'spent refresh token presented again: session revoked')
      }
    }
    if (rotated.session === undefined || rotated.refresh === undefined) throw new DomainError('token_not_valid')
    return tokenPair(rotated.session.user_id, rotated.session.id, rotated.refresh)
  }

  async function signOut (sessionId: string): Promise<void> {
    await revokeSession(db, sessionId, clock.now())
  }

  /** Logout by refresh token: ends the session it belongs to, spent or not. */
  async function signOutByRefreshToken (refresh: string): Promise<void> {
    const token = await findRefreshToken(db, hashOpaqueToken(refresh))
    if (token === undefined) throw new DomainError('token_not_valid')
    await signOut(token.session_id)
  }

  async function listSessions (userId: number): Promise<SessionRow[]> {
    return await listLiveSessions(db, userId, clock.now())
  }

  async function signOutOtherSessions (userId: number, keepSessionId: string): Promise<number> {
    return await revokeUserSessions(db, userId, clock.now(), { keep: keepSessionId })
  }

  /** Deleted phones kept only for device tokens, once every token of theirs has expired. */
  async function forgetDeletedPhones (): Promise<number> {
    return await deleteDeletedPhonesBefore(db, clock.now() - config.deviceTokenTtlDays * 86_400_000)
  }

  return {
    forgetDeletedPhones,
    normalizePhone: normalize,
    requestCode,
    verifyCode,
    authenticateAccessToken,
    authenticateAccessTokenAndRead,
    authenticateSession,
    refreshTokens,
    signOut,
    signOutByRefreshToken,
    listSessions,
    signOutOtherSessions,
    requestDeletionCode,
    deleteAccount,
    startPhoneChange,
    requestPhoneChangeCode,
    changePhone
  }
}

export type AuthService = ReturnType<typeof createAuthService>
