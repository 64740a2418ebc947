import {
  createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes,
  type JsonWebKey, type KeyObject
} from 'node:crypto'
import type { Db } from '../store/database.js'
import type { SigningAlgorithm, SigningKeyRow } from '../store/schema.js'
import { insertSigningKey, listSigningKeys, replacePrivateKey, revokeSigningKey } from '../store/signing-keys.js'
import type { Clock } from './clock.js'
import type { Keys } from './keys.js'

export type { SigningAlgorithm } from '../store/schema.js'

/**
 * A key's life, as Supabase names it: standby (published, not yet signing) → in use → previously
 * used (no longer signing, still published and verifying until every token it signed has
 * expired) → retired (gone from the set). Revoked: gone at once, by the operator.
 */
export type KeyState = 'standby' | 'in_use' | 'previously_used' | 'retired' | 'revoked'

export interface SigningKeyOptions {
  algorithm: SigningAlgorithm
  accessTokenTtlSeconds: number
  /** A new key is published this long before it signs: longer than any verifier caches the set. */
  publishLeadSeconds: number
  /** A key signs this long, then the next one is made (0: only when the operator rotates). */
  rotationDays: number
}

interface LogFn { (object: object, message: string): void }
export interface KeyLogger { info: LogFn, warn: LogFn, error: LogFn }

/** What a token check needs of a key. */
export interface VerificationKey {
  kid: string
  alg: SigningAlgorithm
  /** A PEM public key, or the HMAC key for HS256. */
  key: string | Buffer
}

export type SigningKey = VerificationKey

export interface KeyInfo {
  kid: string
  alg: SigningAlgorithm
  generation: number
  state: KeyState
  createdAt: number
  activatesAt: number
  /** When it stopped (or will stop) signing: the next key's activation; null while none is made. */
  signsUntil: number | null
  /** When it leaves the set and its tokens stop verifying; null while it still signs. */
  retiresAt: number | null
  /** False when no PHONEPASS_SECRET in the list opens its private key (see docs/OPERATIONS.md). */
  readable: boolean
}

export type PublicJwk = JsonWebKey & { kid: string, alg: string, use: 'sig', key_ops: ['verify'] }

// Instances' clocks differ by a little: a key stays verifying this much past the last token it
// may have signed, and a token may be issued this far ahead of the clock that checks it.
export const clockSkewMs = 60_000
// An unknown kid may mean a key another instance just made: the set is read again, at most
// this often, so random kids cannot turn every request into a query.
const unknownKidReloadMs = 10_000

/** HS256 keys are derived, never stored: a kid that names one without revealing it. */
export function hmacFingerprint (key: Buffer): string {
  return createHash('sha256').update('phonepass:kid:').update(key).digest('base64url').slice(0, 16)
}

function hmacKid (key: Buffer, generation: number): string {
  return `hs256-${hmacFingerprint(key)}-${generation}`
}

/** An HS256 kid names the secret's key (its fingerprint) and the HS256 row (its generation). */
function parseHmacKid (kid: string): { fingerprint: string, generation: number } | undefined {
  const match = /^hs256-([\w-]{16})-([0-9]{1,9})$/.exec(kid)
  return match === null ? undefined : { fingerprint: match[1] as string, generation: Number(match[2]) }
}

// AES-256-GCM, the kid as associated data: a sealed key cannot be moved to another row.
function seal (key: Buffer, kid: string, der: Buffer): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(kid))
  const sealed = Buffer.concat([cipher.update(der), cipher.final()])
  return ['v1', iv.toString('base64url'), sealed.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
}

function open (keys: readonly Buffer[], kid: string, text: string): { der: Buffer, index: number } | undefined {
  const [version, iv, sealed, tag] = text.split('.')
  if (version !== 'v1' || iv === undefined || sealed === undefined || tag === undefined) return undefined
  for (const [index, key] of keys.entries()) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url')).setAAD(Buffer.from(kid))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return { der: Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]), index }
    } catch {
      // Not this secret's: try the next.
    }
  }
  return undefined
}

function generatePair (alg: Exclude<SigningAlgorithm, 'HS256'>): { privateKey: KeyObject, publicKey: KeyObject } {
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' })
  if (alg === 'RS256') return generateKeyPairSync('rsa', { modulusLength: 2048 })
  return generateKeyPairSync('ed25519')
}

/** RFC 7638 thumbprint: the kid is a fingerprint of the public key itself. */
function thumbprint (jwk: JsonWebKey): string {
  const members = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

interface Loaded {
  row: SigningKeyRow
  /** When the next generation activates (this one stops signing); undefined while none exists. */
  supersededAt: number | undefined
  verify: VerificationKey | undefined
  sign: SigningKey | undefined
  jwk: PublicJwk | undefined
}

/**
 * The keys that sign and verify access tokens, kept in the database so that every instance
 * signs with the same key and publishes the same set, across restarts. Each instance reads the
 * set at start, every few seconds after (`reload`), and on a token with an unknown kid.
 */
export function createSigningKeys ({ db, clock, keys, logger }: { db: Db, clock: Clock, keys: Keys, logger: KeyLogger }, options: SigningKeyOptions) {
  const hmacKeys = new Map(keys.jwt.map(key => [hmacFingerprint(key), key]))
  const [firstHmacKey] = keys.jwt
  const [sealingKey] = keys.keystore
  if (firstHmacKey === undefined || sealingKey === undefined) throw new Error('at least one secret is needed')
  const ttlMs = options.accessTokenTtlSeconds * 1000
  const leadMs = options.publishLeadSeconds * 1000
  let loaded: Loaded[] = []
  let byKid = new Map<string, Loaded>()
  let lastReload = -Infinity
  let reloading: Promise<void> | undefined
  const unreadable = new Set<string>()

  function stateOf (entry: Loaded, now: number): KeyState {
    const { row, supersededAt } = entry
    if (row.revoked_at !== null && row.revoked_at <= now) return 'revoked'
    if (row.activates_at > now) return 'standby'
    if (supersededAt === undefined || supersededAt > now) return 'in_use'
    return now < supersededAt + ttlMs + clockSkewMs ? 'previously_used' : 'retired'
  }

  async function load (row: SigningKeyRow, known: Loaded | undefined): Promise<Omit<Loaded, 'supersededAt'>> {
    // A key once opened stays in memory: an instance keeps signing while a newer one
    // re-encrypts it under a secret this one does not know yet (a rolling secret rotation).
    if (known?.sign !== undefined) return { ...known, row }
    if (row.alg === 'HS256') {
      // An HS256 row marks when HS256 signs; the key is each instance's first secret's, as
      // before keys were stored, so a secret rotation under HS256 works as it always did.
      const material = { kid: hmacKid(firstHmacKey as Buffer, row.generation), alg: row.alg, key: firstHmacKey as Buffer }
      return { row, verify: material, sign: material, jwk: undefined }
    }
    const publicJwk = JSON.parse(row.public_jwk ?? '{}') as JsonWebKey
    const publicPem = createPublicKey({ key: publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
    const jwk: PublicJwk = { ...publicJwk, kid: row.kid, alg: row.alg, use: 'sig', key_ops: ['verify'] }
    const verify = { kid: row.kid, alg: row.alg, key: publicPem }
    const opened = row.private_key === null ? undefined : open(keys.keystore, row.kid, row.private_key)
    if (opened === undefined) {
      if (!unreadable.has(row.kid)) {
        unreadable.add(row.kid)
        logger.error({ kid: row.kid }, 'signing key: no PHONEPASS_SECRET in the list decrypts its private key; it verifies but cannot sign here')
      }
      return { row, verify, sign: undefined, jwk }
    }
    if (opened.index > 0 && row.private_key !== null) {
      // Opened with an older secret: sealed again under the first, so dropping the old secret
      // later loses nothing.
      await replacePrivateKey(db, row.kid, row.private_key, seal(sealingKey as Buffer, row.kid, opened.der))
      logger.info({ kid: row.kid }, 'signing key re-encrypted under the first PHONEPASS_SECRET')
    }
    const privatePem = createPrivateKey({ key: opened.der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString()
    return { row, verify, sign: { kid: row.kid, alg: row.alg, key: privatePem }, jwk }
  }

  async function readAll (): Promise<void> {
    const rows = await listSigningKeys(db)
    const next: Loaded[] = []
    for (const [i, row] of rows.entries()) {
      // A key revoked before it signed never took over from this one.
      const later = rows.slice(i + 1).filter(r => r.revoked_at === null || r.revoked_at > r.activates_at).map(r => r.activates_at)
      next.push({ ...await load(row, byKid.get(row.kid)), supersededAt: later.length === 0 ? undefined : Math.min(...later) })
    }
    loaded = next
    byKid = new Map(next.map(entry => [entry.row.kid, entry]))
    lastReload = clock.now()
  }

  function newKey (alg: SigningAlgorithm, generation: number, now: number, activatesAt: number, given?: KeyObject) {
    const base = { generation, alg, created_at: now, activates_at: activatesAt, revoked_at: null }
    if (alg === 'HS256') return { ...base, kid: hmacKid(firstHmacKey as Buffer, generation), public_jwk: null, private_key: null }
    const { privateKey, publicKey } = given === undefined ? generatePair(alg) : { privateKey: given, publicKey: createPublicKey(given) }
    const jwk = publicKey.export({ format: 'jwk' })
    const kid = thumbprint(jwk)
    const der = privateKey.export({ type: 'pkcs8', format: 'der' })
    return { ...base, kid, public_jwk: JSON.stringify(jwk), private_key: seal(sealingKey as Buffer, kid, der) }
  }

  /** Tries to add the next generation; whether this instance or another won, the set is read again. */
  async function create (alg: SigningAlgorithm, activatesAt: number, reason: string, given?: KeyObject): Promise<boolean> {
    const now = clock.now()
    const generation = (loaded.at(-1)?.row.generation ?? 0) + 1
    const key = newKey(alg, generation, now, activatesAt, given)
    const won = await insertSigningKey(db, key)
    if (won) logger.info({ kid: key.kid, alg, generation, activatesAt: new Date(activatesAt).toISOString() }, `signing key created: ${reason}`)
    await readAll()
    return won
  }

  function current (now: number): Loaded | undefined {
    return loaded.findLast(entry => stateOf(entry, now) === 'in_use')
  }

  /**
   * What every reload checks: a key to sign with now (a new one, signing at once, when none is
   * usable: the first start, or every secret that sealed it gone), and the scheduled rotation.
   */
  async function keepSigning (): Promise<void> {
    const now = clock.now()
    const inUse = current(now)
    if (inUse === undefined) {
      await create(options.algorithm, now, 'none in use')
    } else if (inUse.sign === undefined) {
      logger.error({ kid: inUse.row.kid }, 'signing key unreadable with every PHONEPASS_SECRET: a new key signs from now; tokens it signed still verify')
      await create(options.algorithm, now, 'the key in use is unreadable')
    } else {
      const newest = loaded.at(-1) as Loaded
      if (options.rotationDays > 0 && newest.row.alg !== 'HS256' && newest.row.created_at + options.rotationDays * 86_400_000 <= now) {
        await create(newest.row.alg, now + leadMs, 'scheduled rotation')
      }
    }
  }

  /**
   * At start: the configured algorithm gets a key if
   * the newest is of another. It is published for the lead before it signs, the previous
   * configuration signing meanwhile; an HS256 key, which nothing publishes, signs at once.
   */
  async function start (): Promise<void> {
    await readAll()
    const newest = loaded.at(-1)
    const now = clock.now()
    if (newest !== undefined && newest.row.alg !== options.algorithm) {
      await create(options.algorithm, now + leadMs, `JWT_ALGORITHM changed from ${newest.row.alg} to ${options.algorithm}`)
    }
    await keepSigning()
  }

  // A reload asked for while one runs may be news the running one read too early (a revocation
  // committed meanwhile): one more runs after it, shared by every such ask.
  let reloadAgain: Promise<void> | undefined
  async function reload (): Promise<void> {
    if (reloading !== undefined) {
      reloadAgain ??= reloading.catch(() => {}).then(async () => {
        reloadAgain = undefined
        await reload()
      })
      await reloadAgain
      return
    }
    reloading = (async () => {
      try {
        await readAll()
        await keepSigning()
      } finally {
        reloading = undefined
      }
    })()
    await reloading
  }

  function isLive (state: KeyState): boolean {
    return state === 'standby' || state === 'in_use' || state === 'previously_used'
  }

  return {
    start,
    reload,
    /** Reads the set, changing nothing (the operator's view). */
    read: readAll,

    /** The HMAC keys derived from each secret, first signing: for tokens older than the stored keys. */
    hmacKeys (): readonly Buffer[] {
      return keys.jwt
    },

    /** The key that signs now. */
    signingKey (): SigningKey {
      const key = current(clock.now())?.sign
      if (key === undefined) throw new Error('no readable signing key in use')
      return key
    },

    /** The key a token's kid names, while it verifies; reads the set again for an unknown kid. */
    async verificationKey (kid: string): Promise<VerificationKey | undefined> {
      const hmac = parseHmacKid(kid)
      const find = (): Loaded | undefined => hmac === undefined
        ? byKid.get(kid)
        : loaded.find(entry => entry.row.alg === 'HS256' && entry.row.generation === hmac.generation)
      if (find() === undefined && clock.now() - lastReload >= unknownKidReloadMs) await reload()
      const entry = find()
      if (entry === undefined || !isLive(stateOf(entry, clock.now()))) return undefined
      if (hmac === undefined) return entry.verify
      // Any secret of the list: tokens signed before a secret rotation keep working.
      const key = hmacKeys.get(hmac.fingerprint)
      return key === undefined ? undefined : { kid, alg: 'HS256', key }
    },

    /**
     * Access tokens signed before the first key was made carry no kid (HS256 with the derived
     * key): taken if issued before that key (`issuedBefore`), and none at all from one lifetime
     * after it (`closesAt`), whatever a token claims. Both come from the table, so every
     * instance closes the window at the same moment; with no key read yet it is closed.
     */
    legacyWindow (): { issuedBefore: number, closesAt: number } {
      if (loaded.length === 0) return { issuedBefore: -Infinity, closesAt: -Infinity }
      const issuedBefore = Math.min(...loaded.map(entry => entry.row.created_at))
      return { issuedBefore, closesAt: issuedBefore + ttlMs }
    },

    /** The public keys to publish: never a private or symmetric one. */
    jwks (): PublicJwk[] {
      const now = clock.now()
      return loaded.filter(entry => entry.jwk !== undefined && isLive(stateOf(entry, now))).map(entry => entry.jwk as PublicJwk)
    },

    list (): KeyInfo[] {
      const now = clock.now()
      return loaded.map(({ row, supersededAt, sign }) => ({
        kid: row.kid,
        alg: row.alg,
        generation: row.generation,
        state: stateOf({ row, supersededAt, sign, verify: undefined, jwk: undefined }, now),
        createdAt: row.created_at,
        activatesAt: row.activates_at,
        signsUntil: supersededAt ?? null,
        retiresAt: row.revoked_at ?? (supersededAt === undefined ? null : supersededAt + ttlMs + clockSkewMs),
        readable: sign !== undefined
      }))
    },

    /**
     * The operator's rotation: a new key of the newest key's algorithm (JWT_ALGORITHM's, when
     * none), published now, signing after the lead. Refused while one already waits, and for
     * HS256 (its key is the secret's).
     */
    async rotate (): Promise<{ rotated: boolean, reason?: string }> {
      await readAll()
      const alg = loaded.at(-1)?.row.alg ?? options.algorithm
      if (alg === 'HS256') return { rotated: false, reason: 'HS256 keys are derived from PHONEPASS_SECRET: rotate the secret instead' }
      const now = clock.now()
      if (loaded.some(entry => stateOf(entry, now) === 'standby')) return { rotated: false, reason: 'a new key is already published and waiting to sign' }
      return await create(alg, now + leadMs, 'rotated by the operator')
        ? { rotated: true }
        : { rotated: false, reason: 'another rotation was made at the same moment' }
    },

    /**
     * An operator's own key (PKCS#8 PEM: P-256 → ES256, RSA of 2048 bits or more → RS256,
     * Ed25519 → EdDSA), stored and scheduled as a rotation is: published now, signing after the lead.
     */
    async importKey (pem: string): Promise<{ rotated: boolean, reason?: string }> {
      let privateKey: KeyObject
      try {
        privateKey = createPrivateKey(pem)
      } catch {
        return { rotated: false, reason: 'not a private key in PEM' }
      }
      const details = privateKey.asymmetricKeyDetails ?? {}
      const alg = privateKey.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1'
        ? 'ES256'
        : privateKey.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= 2048
          ? 'RS256'
          : privateKey.asymmetricKeyType === 'ed25519' ? 'EdDSA' : undefined
      if (alg === undefined) return { rotated: false, reason: 'only P-256, RSA of 2048 bits or more, and Ed25519 keys sign access tokens' }
      await readAll()
      const now = clock.now()
      if (loaded.some(entry => stateOf(entry, now) === 'standby')) return { rotated: false, reason: 'a new key is already published and waiting to sign' }
      return await create(alg, now + leadMs, 'given by the operator', privateKey)
        ? { rotated: true }
        : { rotated: false, reason: 'another rotation was made at the same moment' }
    },

    /** Takes a key out at once (a leaked key): its tokens stop verifying; a new key signs if it was in use. */
    async revoke (kid: string): Promise<boolean> {
      await readAll()
      // The key in use is first replaced by one that signs at once, so no instance is left
      // without a key to sign with.
      if (current(clock.now())?.row.kid === kid) await create(options.algorithm, clock.now(), `replacing revoked key ${kid}`)
      const revoked = await revokeSigningKey(db, kid, clock.now())
      await readAll()
      return revoked
    }
  }
}

export type SigningKeys = ReturnType<typeof createSigningKeys>
