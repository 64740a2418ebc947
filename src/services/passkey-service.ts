import { createHash, randomBytes } from 'node:crypto'
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type AuthenticatorTransportFuture, type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON, type RegistrationResponseJSON
} from '@simplewebauthn/server'
import type { PasskeyConfig } from '../config.js'
import { DomainError } from '../domain/errors.js'
import { maskPhone } from '../domain/phone.js'
import {
  countUserPasskeys, deletePasskey, findPasskey, insertChallenge, insertPasskey, listUserPasskeys,
  notePasskeyUse, renamePasskey, spendChallenge
} from '../store/passkeys.js'
import type { ChallengePurpose, PasskeyRow, SessionKind } from '../store/schema.js'
import { findLiveSession, notePasskeyProof, revokeUserSessions } from '../store/sessions.js'
import { findUserById, lockUnblockedUser } from '../store/users.js'
import type { ClientInfo, ServiceContext } from './context.js'
import { sessionForLog } from './keys.js'
import { createLimits } from './limits.js'
import { createSignInSessions, type TokenPair } from './sign-in-sessions.js'
import { createEventRecorder } from './webhooks.js'

/** A passkey as the person and the admins see it: never its key. */
export interface Passkey {
  id: string
  name: string
  deviceType: string
  backedUp: boolean
  createdAt: number
  lastUsedAt: number | null
}

export interface PasskeySignedIn {
  userId: number
  sessionId: string
  tokens?: TokenPair
}

/** Who asks to add or prove a passkey: a live session of the account. */
export interface SessionCaller {
  userId: number
  sessionId: string
}

const challengeTtlMs = 5 * 60_000
const maxNameLength = 64
const transportsKnown = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'])

export function toPasskey (row: PasskeyRow): Passkey {
  return {
    id: row.id,
    name: row.name,
    deviceType: row.device_type,
    backedUp: row.backed_up === 1,
    createdAt: Number(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at)
  }
}

/** The challenge the client signed, read from its clientDataJSON; the library checks the rest. */
function challengeOf (clientDataJSON: unknown): string {
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > 4096) throw new DomainError('passkey_invalid')
  try {
    const parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }
    if (typeof parsed.challenge === 'string' && /^[A-Za-z0-9_-]{16,100}$/.test(parsed.challenge)) return parsed.challenge
  } catch {
    // Not JSON: refused below, as any malformed response.
  }
  throw new DomainError('passkey_invalid')
}

function originOf (clientDataJSON: string): string {
  const parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { origin?: unknown }
  return typeof parsed.origin === 'string' ? parsed.origin : ''
}

function nameFrom (name: string | undefined, fallback: string): string {
  const trimmed = name?.replace(/\s+/g, ' ').trim() ?? ''
  return (trimmed === '' ? fallback : trimmed).slice(0, maxNameLength)
}

/** A name the person recognises, from the browser that made it: "Chrome on Android". */
function nameForAgent (userAgent: string | undefined): string {
  const agent = userAgent ?? ''
  const browser = /Edg\//.test(agent) ? 'Edge' : /Firefox\//.test(agent) ? 'Firefox' : /Chrom(e|ium)\//.test(agent) ? 'Chrome' : /Safari\//.test(agent) ? 'Safari' : undefined
  const system = /Android/.test(agent) ? 'Android' : /iPhone|iPad/.test(agent) ? 'iOS' : /Mac OS X/.test(agent) ? 'macOS' : /Windows/.test(agent) ? 'Windows' : /Linux/.test(agent) ? 'Linux' : undefined
  if (browser === undefined && system === undefined) return 'Passkey'
  return [browser, system].filter(part => part !== undefined).join(' on ')
}

/**
 * Passkeys (WebAuthn) after the first phone sign-in (docs/ARCHITECTURE.md, "Passkeys"): register
 * one from a fresh session, sign in with one into the same session and token pair a code gives,
 * prove one as an admin's second factor. The challenges live in the database, each spent once
 * (DELETE … RETURNING) before its response is verified, so one assertion gives one session
 * however many times it is presented at once. Attestation `none`; user verification required.
 */
export function createPasskeyService (context: ServiceContext) {
  const { db, config, clock, logger } = context
  const limits = createLimits(context)
  const events = createEventRecorder(context)
  const { openSession, issueRefreshToken, tokenPair } = createSignInSessions(context)

  function settings (): PasskeyConfig {
    if (config.passkeys === undefined) throw new DomainError('passkeys_off')
    return config.passkeys
  }

  /** Whether a ceremony may run at this origin: PASSKEY_ORIGINS, or, on a developer's machine, any localhost port. */
  function originAllowed (passkeys: PasskeyConfig, origin: string): boolean {
    if (passkeys.origins.includes(origin)) return true
    return passkeys.anyLocalhostPort && /^http:\/\/localhost(:[0-9]{1,5})?$/.test(origin)
  }

  /** The WebAuthn user handle: stable for the account (an authenticator keeps one passkey per account), and no personal data. */
  function userHandle (passkeys: PasskeyConfig, userId: number): Uint8Array<ArrayBuffer> {
    return new Uint8Array(createHash('sha256').update(`phonepass-webauthn-user:${passkeys.rpId}:${userId}`).digest())
  }

  function newChallenge (): string {
    return randomBytes(32).toString('base64url')
  }

  async function liveAccount (userId: number) {
    const user = await findUserById(db, userId)
    if (user === undefined || user.deleted_at !== null) throw new DomainError('token_not_valid')
    if (user.blocked_at !== null) throw new DomainError('account_blocked')
    return user
  }

  /**
   * Adding a passkey is lasting power over the account, so a token or cookie alone is not
   * enough: the session must have been signed in within PASSKEY_FRESH_MINUTES (by a code, or by
   * a passkey). An admin who has a passkey must have proved it in this session too: else a SIM
   * swap of their phone could add the swapper's passkey and pass the admin pages' second factor.
   */
  async function requireFreshSession (passkeys: PasskeyConfig, caller: SessionCaller, phone: string): Promise<void> {
    const isAdmin = config.adminPhones.has(phone)
    const now = clock.now()
    const session = await findLiveSession(db, caller.sessionId, now)
    if (session === undefined || session.user_id !== caller.userId) throw new DomainError('token_not_valid')
    if (now - Number(session.created_at) >= passkeys.freshMs) throw new DomainError('passkey_sign_in_too_old')
    if (isAdmin && passkeys.adminRequired && session.passkey_at === null && await countUserPasskeys(db, caller.userId) > 0) {
      throw new DomainError('passkey_required')
    }
  }

  async function storeChallenge (purpose: ChallengePurpose, challenge: string, caller: SessionCaller | undefined): Promise<void> {
    await insertChallenge(db, { challenge, purpose, userId: caller?.userId ?? null, sessionId: caller?.sessionId ?? null, expiresAt: clock.now() + challengeTtlMs })
  }

  /**
   * Spends the challenge the response carries, for this purpose (and this session, where the
   * challenge was a session's): exactly one presenter gets past here.
   */
  async function spend (clientDataJSON: unknown, purpose: ChallengePurpose, caller?: SessionCaller): Promise<string> {
    const challenge = challengeOf(clientDataJSON)
    const spent = await spendChallenge(db, challenge, purpose, clock.now())
    if (spent === undefined) throw new DomainError('passkey_challenge_invalid')
    if (caller !== undefined && (spent.userId !== caller.userId || spent.sessionId !== caller.sessionId)) throw new DomainError('passkey_challenge_invalid')
    return challenge
  }

  /** Options for navigator.credentials.create: a discoverable passkey with user verification, no attestation. */
  async function registrationOptions (caller: SessionCaller, client: ClientInfo): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const passkeys = settings()
    await limits.takePasskeyOptions(client.ip, passkeys.optionsPerIpHour)
    const user = await liveAccount(caller.userId)
    await requireFreshSession(passkeys, caller, user.phone)
    const existing = await listUserPasskeys(db, caller.userId)
    const options = await generateRegistrationOptions({
      rpName: passkeys.rpName,
      rpID: passkeys.rpId,
      userName: user.phone,
      userDisplayName: user.phone,
      userID: userHandle(passkeys, user.id),
      challenge: newChallenge(),
      timeout: challengeTtlMs - 60_000,
      attestationType: 'none',
      excludeCredentials: existing.map(row => ({ id: row.id, transports: transportsOf(row) })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' }
    })
    await storeChallenge('register', options.challenge, caller)
    return options
  }

  function transportsOf (row: PasskeyRow): AuthenticatorTransportFuture[] {
    try {
      const parsed = JSON.parse(row.transports) as unknown
      return Array.isArray(parsed) ? parsed.filter((t): t is AuthenticatorTransportFuture => typeof t === 'string' && transportsKnown.has(t)) : []
    } catch {
      return []
    }
  }

  /**
   * Verifies the new passkey against the session's challenge and stores it; passkey.added is
   * recorded in the same transaction. The session must still be fresh (it was when the options
   * were given: the challenge outlives a few minutes at most).
   */
  async function verifyRegistration (caller: SessionCaller, response: RegistrationResponseJSON, client: ClientInfo, name?: string): Promise<Passkey> {
    const passkeys = settings()
    const challenge = await spend(response.response?.clientDataJSON, 'register', caller)
    const user = await liveAccount(caller.userId)
    await requireFreshSession(passkeys, caller, user.phone)
    const origin = originOf(response.response.clientDataJSON)
    if (!originAllowed(passkeys, origin)) throw new DomainError('passkey_invalid')
    const verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: origin,
      expectedRPID: passkeys.rpId,
      requireUserVerification: true
    }).catch((error: unknown) => {
      logger.info({ err: error }, 'passkey registration refused')
      throw new DomainError('passkey_invalid')
    })
    if (!verified.verified) throw new DomainError('passkey_invalid')
    const info = verified.registrationInfo
    const now = clock.now()
    const stored = {
      id: info.credential.id,
      userId: user.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: (response.response.transports ?? []).filter(t => transportsKnown.has(t)),
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      name: nameFrom(name, nameForAgent(client.userAgent)),
      createdAt: now
    }
    await db.transaction().execute(async (trx) => {
      if (!await lockUnblockedUser(trx, user.id)) throw new DomainError('account_blocked')
      if (!await insertPasskey(trx, stored)) throw new DomainError('passkey_exists')
      await events.record(trx, 'passkey.added', { id: user.id, phone: user.phone, passkey: { id: stored.id, name: stored.name, device_type: stored.deviceType } })
    })
    logger.info({ userId: user.id, phone: maskPhone(user.phone), deviceType: stored.deviceType }, 'passkey added')
    return { id: stored.id, name: stored.name, deviceType: stored.deviceType, backedUp: stored.backedUp, createdAt: now, lastUsedAt: null }
  }

  /** Options for navigator.credentials.get: any passkey of this site (discoverable), user verification required. */
  async function authenticationOptions (client: ClientInfo): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const passkeys = settings()
    await limits.takePasskeyOptions(client.ip, passkeys.optionsPerIpHour)
    const options = await generateAuthenticationOptions({
      rpID: passkeys.rpId, challenge: newChallenge(), timeout: challengeTtlMs - 60_000, userVerification: 'required'
    })
    await storeChallenge('authenticate', options.challenge, undefined)
    return options
  }

  /**
   * Checks an assertion of `passkey` against the spent challenge: the site, the origin, the
   * signature, user verification, and the counter (a clone's lower counter is refused).
   */
  async function verifyAssertion (passkeys: PasskeyConfig, passkey: PasskeyRow, response: AuthenticationResponseJSON, challenge: string) {
    const origin = originOf(response.response.clientDataJSON)
    if (!originAllowed(passkeys, origin)) throw new DomainError('passkey_invalid')
    const verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: origin,
      expectedRPID: passkeys.rpId,
      credential: { id: passkey.id, publicKey: Buffer.from(passkey.public_key, 'base64url'), counter: Number(passkey.counter), transports: transportsOf(passkey) },
      requireUserVerification: true
    }).catch((error: unknown) => {
      logger.info({ err: error }, 'passkey assertion refused')
      throw new DomainError('passkey_invalid')
    })
    if (!verified.verified) throw new DomainError('passkey_invalid')
    return verified.authenticationInfo
  }

  /**
   * Signs in with a passkey: the same session and (for apps) token pair as verify_code gives,
   * the session saying `passkey`. The challenge is spent first, so a replay, or the same
   * assertion sent many times at once, signs in once. In one transaction: the passkey's use
   * noted (it may have been removed meanwhile), the account locked unblocked, the session
   * opened, user.signed_in recorded with its method.
   */
  async function signIn (response: AuthenticationResponseJSON, kind: SessionKind, client: ClientInfo): Promise<PasskeySignedIn> {
    const passkeys = settings()
    const challenge = await spend(response.response?.clientDataJSON, 'authenticate')
    const passkey = typeof response.id === 'string' ? await findPasskey(db, response.id) : undefined
    if (passkey === undefined) throw new DomainError('passkey_invalid')
    const info = await verifyAssertion(passkeys, passkey, response, challenge)
    const now = clock.now()
    const userId = Number(passkey.user_id)
    const outcome = await db.transaction().execute(async (trx) => {
      if (!await notePasskeyUse(trx, passkey.id, userId, { counter: info.newCounter, backedUp: info.credentialBackedUp, at: now })) return { refusal: new DomainError('passkey_invalid') }
      const user = await findUserById(trx, userId)
      if (user === undefined || user.deleted_at !== null) return { refusal: new DomainError('passkey_invalid') }
      if (!await lockUnblockedUser(trx, userId)) return { refusal: new DomainError('account_blocked') }
      const sessionId = await openSession(trx, userId, kind, client, now, passkey.id)
      await events.record(trx, 'user.signed_in', { id: userId, phone: user.phone, kind, method: 'passkey' })
      const refresh = kind === 'api' ? await issueRefreshToken(trx, sessionId, now) : undefined
      return { signedIn: { userId, sessionId, refresh } }
    })
    if (outcome.refusal !== undefined) throw outcome.refusal
    const { refresh, ...signedIn } = outcome.signedIn
    logger.info({ userId, session: sessionForLog(signedIn.sessionId), kind, method: 'passkey' }, 'signed in')
    return refresh === undefined ? signedIn : { ...signedIn, tokens: tokenPair(userId, signedIn.sessionId, refresh) }
  }

  /** Options for an admin's second factor: one of the admin's own passkeys, for this session. */
  async function proofOptions (caller: SessionCaller, client: ClientInfo): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const passkeys = settings()
    await limits.takePasskeyOptions(client.ip, passkeys.optionsPerIpHour)
    await liveAccount(caller.userId)
    const own = await listUserPasskeys(db, caller.userId)
    if (own.length === 0) throw new DomainError('passkey_not_found')
    const options = await generateAuthenticationOptions({
      rpID: passkeys.rpId,
      challenge: newChallenge(),
      timeout: challengeTtlMs - 60_000,
      userVerification: 'required',
      allowCredentials: own.map(row => ({ id: row.id, transports: transportsOf(row) }))
    })
    await storeChallenge('admin', options.challenge, caller)
    return options
  }

  /** The session's second factor: an assertion of one of the account's own passkeys (another account's is refused). */
  async function proveSession (caller: SessionCaller, response: AuthenticationResponseJSON): Promise<void> {
    const passkeys = settings()
    const challenge = await spend(response.response?.clientDataJSON, 'admin', caller)
    const passkey = typeof response.id === 'string' ? await findPasskey(db, response.id) : undefined
    if (passkey === undefined || Number(passkey.user_id) !== caller.userId) throw new DomainError('passkey_invalid')
    const info = await verifyAssertion(passkeys, passkey, response, challenge)
    const now = clock.now()
    await db.transaction().execute(async (trx) => {
      if (!await notePasskeyUse(trx, passkey.id, caller.userId, { counter: info.newCounter, backedUp: info.credentialBackedUp, at: now })) throw new DomainError('passkey_invalid')
      if (!await notePasskeyProof(trx, caller.sessionId, caller.userId, passkey.id, now)) throw new DomainError('token_not_valid')
    })
  }

  async function listPasskeys (userId: number): Promise<Passkey[]> {
    return (await listUserPasskeys(db, userId)).map(toPasskey)
  }

  async function rename (userId: number, id: string, name: string): Promise<void> {
    if (!await renamePasskey(db, id, userId, nameFrom(name, 'Passkey'))) throw new DomainError('passkey_not_found')
  }

  /**
   * Removes one of the account's passkeys, recording passkey.removed, and ends the sessions it
   * signed in or proved but the caller's own. A live session is enough: removing takes a way in
   * away and gives none (the phone stays the way back), and the owner must be able to take out
   * a passkey someone else added, and its sessions, without any more proof.
   */
  async function remove (caller: SessionCaller, id: string): Promise<Passkey> {
    const { userId } = caller
    const removed = await db.transaction().execute(async (trx) => {
      const user = await findUserById(trx, userId)
      if (user === undefined || user.deleted_at !== null) throw new DomainError('passkey_not_found')
      const row = await deletePasskey(trx, id, userId)
      if (row === undefined) throw new DomainError('passkey_not_found')
      await revokeUserSessions(trx, userId, clock.now(), { keep: caller.sessionId, passkeyId: row.id })
      await events.record(trx, 'passkey.removed', { id: userId, phone: user.phone, passkey: { id: row.id, name: row.name }, by: 'user' })
      return row
    })
    return toPasskey(removed)
  }

  /**
   * What the profile offers: the passkeys, whether this session may add one now (fresh enough),
   * and whether to try a quiet one (conditional create): fresh, and none yet.
   */
  async function profileState (caller: SessionCaller): Promise<{ enabled: boolean, list: Passkey[], mayAdd: boolean, addQuietly: boolean }> {
    const list = await listPasskeys(caller.userId)
    if (config.passkeys === undefined) return { enabled: false, list, mayAdd: false, addQuietly: false }
    const now = clock.now()
    const session = await findLiveSession(db, caller.sessionId, now)
    const mayAdd = session !== undefined && now - Number(session.created_at) < config.passkeys.freshMs
    return { enabled: true, list, mayAdd, addQuietly: mayAdd && list.length === 0 }
  }

  async function hasPasskey (userId: number): Promise<boolean> {
    return await countUserPasskeys(db, userId) > 0
  }

  return {
    enabled: config.passkeys !== undefined,
    registrationOptions,
    verifyRegistration,
    authenticationOptions,
    signIn,
    proofOptions,
    proveSession,
    listPasskeys,
    rename,
    remove,
    hasPasskey,
    profileState
  }
}

export type PasskeyService = ReturnType<typeof createPasskeyService>
