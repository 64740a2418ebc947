import { createChallenge, extractParams, verifySolution } from 'altcha-lib/v1'
import type { Challenge } from 'altcha-lib/v1/types'
import type { CaptchaChallenge } from '../domain/errors.js'
import { DomainError } from '../domain/errors.js'
import { countryOfPhone, maskPhone } from '../domain/phone.js'
import { incrementCounter, incrementCounters, maxStripes, stripeOf, type CounterWindow } from '../store/limit-counters.js'
import { findFraudRules, readCounterFigures, type CounterFigures } from '../store/fraud.js'
import type { DbOrTransaction } from '../store/database.js'
import { findUserByPhone } from '../store/users.js'
import { createHash, createHmac } from 'node:crypto'
import { verifyCaptchaToken } from './captcha.js'
import type { ServiceContext } from './context.js'
import { secondsLeft, uncapped, windowOf, type GuardCounts } from './limits.js'
import { createEventRecorder } from './webhooks.js'

const hour = 3_600_000
const day = 86_400_000

export type DestinationKind = 'prefix' | 'country'

/** Where codes go, as the guard counts them: a number prefix (`p:+44791112`) or a country (`c:GB`). */
export interface Destination {
  key: string
  kind: DestinationKind
  /** What an operator reads: `+44791112` or `GB`. */
  name: string
}

/** Why a destination is suspect, in words an operator reads. */
export interface Suspicion {
  destination: Destination
  reason: string
}

/** What the guard decided about one send, before its transaction. */
export interface Screening {
  destinations: Destination[]
  /** A device token of the phone, or an account (looked up only where something is suspect). */
  known: boolean
  suspicions: Suspicion[]
  /** In enforce mode, what the send must clear inside its transaction: a solved challenge. */
  challengeNeeded: boolean
  /**
   * Where a challenge is needed and a solution came: whether it holds, checked before the send's
   * transaction (a captcha provider's siteverify is a network call, never made holding a
   * database connection); the transaction then spends it.
   */
  solutionHolds?: boolean
}


/** A destination's figures over the window and its baseline, for the admin's view and the rules. */
export interface DestinationFigures {
  sent: number
  entered: number
  solved: number
  /** Codes a window of this length carried on average over the baseline days (0: none yet). */
  baselinePerWindow: number
  /** Hours of the baseline with any sends: too few, and the rate rule does not apply. */
  baselineHours: number
  coolingUntil: number | undefined
}

// A sliding window of twelve buckets: the window moves by a twelfth, and each bucket is one row.
const bucketsPerWindow = 12
// The rate rule needs a day of history before it compares against it.
const minBaselineHours = 24

/**
 * SMS pumping defence ahead of every send (docs/SECURITY.md, "The fraud guard"). Counts codes
 * sent, codes entered and challenges solved per number prefix and per country, in
 * limit_counters (atomic, shared by every instance); calls a destination suspect when its codes
 * go unentered or its rate jumps past its own baseline; asks unknown traffic to a suspect
 * destination for a proof-of-work challenge (ALTCHA), and holds new numbers of a prefix back for
 * a cooling-off period when challenges are solved and codes still go unentered. Known traffic (a
 * device token of the phone, or a number with an account) is never held back, and keeps a
 * reserved share of SMS_HOURLY_CAP; a suspect destination gets a bounded share of it.
 */
export function createFraudGuard (context: Pick<ServiceContext, 'db' | 'config' | 'clock' | 'keys' | 'logger'>) {
  const { db, config, clock, keys, logger } = context
  const settings = config.fraudGuard
  const captcha = settings.captcha
  const bucketMs = Math.max(60_000, Math.floor(settings.windowMs / bucketsPerWindow))
  const events = createEventRecorder(context)
  const firstChallengeKey = keys.challenge[0]
  if (firstChallengeKey === undefined) throw new Error('at least one challenge key is needed')
  const challengeKey = firstChallengeKey.toString('base64')
  const cap = config.sms.hourlyCap
  const suspectCeiling = Math.floor(cap * settings.suspectCapShare)
  const unknownCeiling = cap - Math.ceil(cap * settings.reservedCapShare)

  const sentKey = (d: Destination) => `fg:s:${d.key}`
  const enteredKey = (d: Destination) => `fg:e:${d.key}`
  const solvedKey = (d: Destination) => `fg:v:${d.key}`
  const hourKey = (d: Destination) => `fg:h:${d.key}`
  const coolingKey = (d: Destination) => `fg:c:${d.key}`

  /** The number less its last FRAUD_PREFIX_DIGITS digits: the block of numbers it belongs to. */
  function prefixOf (phone: string): string {
    return phone.slice(0, Math.max(2, phone.length - settings.prefixDigits))
  }

  function destinationsOf (phone: string, country: string): Destination[] {
    const prefix = prefixOf(phone)
    return [{ key: `p:${prefix}`, kind: 'prefix', name: prefix }, { key: `c:${country}`, kind: 'country', name: country }]
  }

  function bucket (key: string, now: number): CounterWindow {
    const windowStart = Math.floor(now / bucketMs) * bucketMs
    // Kept while it is in the sliding window.
    return { key, windowStart, expiresAt: windowStart + settings.windowMs + bucketMs }
  }

  function baselineHour (key: string, now: number): CounterWindow {
    const windowStart = Math.floor(now / hour) * hour
    return { key, windowStart, expiresAt: windowStart + settings.baselineDays * day + hour }
  }

  async function readFigures (db: DbOrTransaction, destinations: readonly Destination[], now: number): Promise<Map<string, DestinationFigures>> {
    const keys = destinations.flatMap(d => [sentKey(d), enteredKey(d), solvedKey(d), hourKey(d), coolingKey(d)])
    const currentHour = Math.floor(now / hour) * hour
    const recentFrom = Math.floor(now / bucketMs) * bucketMs - settings.windowMs + bucketMs
    const figures = await readCounterFigures(db, keys, currentHour - settings.baselineDays * day, recentFrom, currentHour, now)
    const of = (key: string): CounterFigures => figures.get(key) ?? { recent: 0, past: 0, pastWindows: 0, openUntil: undefined }
    return new Map(destinations.map(d => {
      const baseline = of(hourKey(d))
      return [d.key, {
        sent: of(sentKey(d)).recent,
        entered: of(enteredKey(d)).recent,
        solved: of(solvedKey(d)).recent,
        baselinePerWindow: baseline.past / (settings.baselineDays * 24) * (settings.windowMs / hour),
        baselineHours: baseline.pastWindows,
        coolingUntil: of(coolingKey(d)).openUntil
      }]
    }))
  }

  /** The keys an operator's verdict on this number may have: every prefix of it down to `+` and two digits, and its country. */
  function ruleKeysOf (phone: string, destinations: readonly Destination[]): string[] {
    const counted = destinations.find(d => d.kind === 'prefix')?.name ?? phone
    const prefixes = Array.from({ length: Math.max(0, counted.length - 2) }, (_, i) => `p:${counted.slice(0, 3 + i)}`)
    return [...prefixes, ...destinations.filter(d => d.kind === 'country').map(d => d.key)]
  }

  /** Each destination's verdict: the country's own, and for the prefix the longest prefix with one. */
  function verdictsOf (destinations: readonly Destination[], rules: ReadonlyArray<{ destination: string, verdict: 'allow' | 'block' }>): Map<string, 'allow' | 'block'> {
    const verdicts = new Map<string, 'allow' | 'block'>()
    for (const d of destinations) {
      const matching = rules.filter(rule => d.kind === 'prefix' ? d.key.startsWith(rule.destination) && rule.destination.startsWith('p:') : rule.destination === d.key)
      const longest = matching.sort((a, b) => b.destination.length - a.destination.length)[0]
      if (longest !== undefined) verdicts.set(d.key, longest.verdict)
    }
    return verdicts
  }

  /** The rules of docs/SECURITY.md: unentered codes, or a rate past the destination's baseline. */
  function suspicionOf (d: Destination, f: DestinationFigures): string | undefined {
    const minSends = d.kind === 'prefix' ? settings.minSendsPrefix : settings.minSendsCountry
    if (f.sent < minSends) return undefined
    const minutes = Math.round(settings.windowMs / 60_000)
    if (f.entered < f.sent * settings.minEnteredRatio) {
      return `${f.entered} of ${f.sent} codes sent in the last ${minutes} minutes were entered (${Math.round(f.entered / f.sent * 100)}%, below ${Math.round(settings.minEnteredRatio * 100)}%)`
    }
    if (f.baselineHours >= minBaselineHours && f.sent > f.baselinePerWindow * settings.rateFactor) {
      return `${f.sent} codes in the last ${minutes} minutes, over ${settings.rateFactor} times the ${settings.baselineDays}-day baseline of ${f.baselinePerWindow.toFixed(1)}`
    }
    return undefined
  }

  /**
   * Before a send's transaction: which destinations are suspect, whether the phone is known,
   * and whether a challenge is needed. Writes, on their own, what must outlive a refused send: the
   * alert and event when a destination turns suspect (once an hour each), and the start of a
   * cooling-off period. Refuses (throws) a destination an operator blocked or one cooling off.
   */
  async function screen (phone: string, country: string, hasDeviceToken: boolean, answer: { solution?: string | undefined, ip?: string } = {}): Promise<Screening> {
    const destinations = destinationsOf(phone, country)
    if (settings.mode === 'off' || hasDeviceToken) return { destinations, known: hasDeviceToken, suspicions: [], challengeNeeded: false }
    const now = clock.now()
    // An operator's verdict may name a shorter prefix (a whole range, +4479) than the guard counts.
    const [figures, rules] = await Promise.all([readFigures(db, destinations, now), findFraudRules(db, ruleKeysOf(phone, destinations))])
    const verdicts = verdictsOf(destinations, rules)
    const suspicions: Suspicion[] = []
    let blocked: Destination | undefined
    for (const d of destinations) {
      const verdict = verdicts.get(d.key)
      if (verdict === 'allow') continue
      if (verdict === 'block') { blocked ??= d; continue }
      const reason = suspicionOf(d, figures.get(d.key) as DestinationFigures)
      if (reason !== undefined) suspicions.push({ destination: d, reason })
    }
    if (blocked === undefined && suspicions.length === 0) return { destinations, known: false, suspicions, challengeNeeded: false }
    // Only where something is suspect: is the number someone's? Their sign-in is never held back.
    const account = await findUserByPhone(db, phone)
    if (account !== undefined) return { destinations, known: true, suspicions, challengeNeeded: false }
    for (const suspicion of suspicions) await alertOnce(suspicion, now)
    if (blocked !== undefined) {
      refuseOrAudit(new DomainError('phone_not_allowed', { field: 'phone' }), phone, `${blocked.name} is blocked by an operator`)
    }
    for (const { destination } of suspicions) {
      const f = figures.get(destination.key) as DestinationFigures
      let coolingUntil = f.coolingUntil
      // Challenges solved and the codes still unentered: people are paid to solve them.
      if (coolingUntil === undefined && destination.kind === 'prefix' && f.solved >= settings.coolingMinSolved && f.entered < f.sent * settings.minEnteredRatio) {
        coolingUntil = await startCooling(destination, now, f)
      }
      if (coolingUntil !== undefined) {
        refuseOrAudit(new DomainError('destination_cooling_off', { field: 'phone', retryAfter: Math.max(1, Math.ceil((coolingUntil - now) / 1000)) }), phone, `${destination.name} is cooling off`)
      }
    }
    if (suspicions.length > 0 && settings.mode === 'audit') {
      logger.warn({ fraudGuard: 'audit', phone: maskPhone(phone), wouldRefuse: 'challenge_required', why: suspicions.map(s => `${s.destination.name}: ${s.reason}`).join('; ') }, 'fraud guard (audit): a send it would have asked a challenge for goes out')
    }
    const challengeNeeded = suspicions.length > 0 && settings.mode === 'enforce'
    const { solution, ip } = answer
    if (!challengeNeeded || solution === undefined || solution === '') return { destinations, known: false, suspicions, challengeNeeded }
    return { destinations, known: false, suspicions, challengeNeeded, solutionHolds: await solutionHolds(solution, phone, now, ip) }
  }

  function refuseOrAudit (refusal: DomainError, phone: string, why: string): void {
    if (settings.mode === 'enforce') throw refusal
    logger.warn({ fraudGuard: 'audit', phone: maskPhone(phone), wouldRefuse: refusal.code, why }, 'fraud guard (audit): a send it would have refused goes out')
  }

  // Destinations this process has seen alerted in the current hour: under attack every request
  // screens a suspect destination, and the alert's counter need not be written again for each.
  const alerted = new Set<string>()
  let alertedHour = 0

  async function alertOnce (suspicion: Suspicion, now: number): Promise<void> {
    const { destination, reason } = suspicion
    const window = windowOf(`fg:a:${destination.key}`, hour, now)
    if (window.windowStart !== alertedHour) { alerted.clear(); alertedHour = window.windowStart }
    if (alerted.has(destination.key)) return
    const first = await db.transaction().execute(async (trx) => {
      // Counted in the database: one alert and one event an hour across every instance.
      if (await incrementCounter(trx, window) !== 1) return false
      await events.record(trx, 'fraud.destination_suspect', { destination: destination.name, kind: destination.kind, reason })
      return true
    })
    alerted.add(destination.key)
    if (first) logger.error({ alert: 'fraud_destination_suspect', destination: destination.name, kind: destination.kind, reason, mode: settings.mode }, `ALERT: codes to ${destination.name} look like SMS pumping: ${reason}`)
  }

  async function startCooling (destination: Destination, now: number, f: DestinationFigures): Promise<number> {
    const until = now + settings.coolingMs
    await incrementCounter(db, { key: coolingKey(destination), windowStart: Math.floor(now / bucketMs) * bucketMs, expiresAt: until })
    logger.error({ alert: 'fraud_destination_cooling', destination: destination.name, solved: f.solved, sent: f.sent, entered: f.entered, until: new Date(until).toISOString() },
      `ALERT: ${destination.name}: challenges are solved and codes still go unentered; new numbers there wait until ${new Date(until).toISOString()}`)
    return until
  }

  /**
   * A challenge for this phone: ALTCHA's, its salt carrying the phone's tag and the expiry; or,
   * with FRAUD_CHALLENGE set to a provider, which widget to show (its token is not bound to the phone).
   */
  async function newChallenge (phone: string): Promise<Challenge | CaptchaChallenge> {
    if (captcha !== undefined) return { provider: captcha.provider, site_key: captcha.siteKey }
    return await createChallenge({
      hmacKey: challengeKey,
      maxnumber: settings.challengeMaxNumber,
      params: { p: phoneTag(phone) },
      expires: new Date(clock.now() + settings.challengeTtlSeconds * 1000)
    })
  }

  function phoneTag (phone: string): string {
    return createHmac('sha256', firstChallengeKey as Buffer).update(`phone:${phone}`).digest('base64url').slice(0, 16)
  }

  async function challengeRefusal (code: 'challenge_required' | 'challenge_invalid', phone: string): Promise<DomainError> {
    return new DomainError(code, { field: 'phone', challenge: await newChallenge(phone) })
  }

  /**
   * Inside the send's transaction: spends the solved challenge (once: a counter with a ceiling of
   * one, rolled back with a refused send) where one is needed, and returns the counts the send
   * takes beside the limits' — codes sent per destination, the unknown traffic's share of the
   * hour's SMS and each suspect destination's share — each with the refusal its ceiling stands for.
   */
  async function takeSend (trx: DbOrTransaction, screening: Screening, phone: string, solution: string | undefined): Promise<GuardCounts> {
    const now = clock.now()
    if (screening.challengeNeeded) {
      if (solution === undefined || solution === '') throw await challengeRefusal('challenge_required', phone)
      if (screening.solutionHolds !== true) throw await challengeRefusal('challenge_invalid', phone)
      const spent = await incrementCounter(trx, { key: `fg:u:${signatureOf(solution)}`, windowStart: 0, expiresAt: now + settings.challengeTtlSeconds * 1000 }, 1)
      if (spent === undefined) throw await challengeRefusal('challenge_invalid', phone)
    }
    const counts: GuardCounts = { windows: [], ceilings: [], refusals: [] }
    const add = (window: CounterWindow, ceiling: number, refusal?: DomainError) => {
      counts.windows.push(window)
      counts.ceilings.push(ceiling)
      counts.refusals.push(refusal)
    }
    if (settings.mode === 'off') return counts
    for (const d of screening.destinations) {
      add(bucket(sentKey(d), now), uncapped)
      add(baselineHour(hourKey(d), now), uncapped)
    }
    if (screening.challengeNeeded) for (const d of screening.destinations) add(bucket(solvedKey(d), now), uncapped)
    const enforce = settings.mode === 'enforce'
    if (!screening.known) {
      const unknownHour = windowOf('sms:unknown:h', hour, now)
      add(unknownHour, enforce ? unknownCeiling : uncapped, new DomainError('sms_cap_reached', { field: 'phone', retryAfter: secondsLeft(unknownHour, now) }))
      for (const { destination } of screening.suspicions) {
        const window = windowOf(`sms:fg:${destination.key}:h`, hour, now)
        add(window, enforce ? suspectCeiling : uncapped, new DomainError('destination_cooling_off', { field: 'phone', retryAfter: secondsLeft(window, now) }))
      }
    }
    return counts
  }

  async function solutionHolds (solution: string, phone: string, now: number, ip: string | undefined): Promise<boolean> {
    if (solution.length > 2048) return false
    if (captcha !== undefined) return (await verifyCaptchaToken(captcha, solution, ip, logger)).success
    let params: Record<string, string>
    try {
      params = extractParams(solution)
    } catch {
      return false
    }
    const expires = Number(params.expires)
    if (!Number.isFinite(expires) || expires * 1000 <= now) return false
    if (params.p !== phoneTag(phone)) return false
    // The expiry is checked against this service's clock above, not the library's.
    return await verifySolution(solution, challengeKey, false)
  }

  /** What marks a solution spent: ALTCHA's signature, or a hash of the provider's token. */
  function signatureOf (solution: string): string {
    if (captcha !== undefined) return createHash('sha256').update(solution).digest('base64url')
    const payload = JSON.parse(Buffer.from(solution, 'base64').toString('utf8')) as { signature?: unknown }
    return typeof payload.signature === 'string' ? payload.signature.slice(0, 128) : ''
  }

  // A number's country follows from its prefix: parsed once per prefix, not on every sign-in.
  const countryByPrefix = new Map<string, string>()
  function countryOf (phone: string): string {
    const prefix = prefixOf(phone)
    let country = countryByPrefix.get(prefix)
    if (country === undefined) {
      if (countryByPrefix.size >= 10_000) countryByPrefix.clear()
      country = countryOfPhone(phone)
      countryByPrefix.set(prefix, country)
    }
    return country
  }

  let enteredTurn = 0
  /** A code entered right: counted for its destinations, so the share of codes entered is known. */
  async function countEntered (trx: DbOrTransaction, phone: string): Promise<void> {
    if (settings.mode === 'off') return
    const now = clock.now()
    // On a row of the bucket's spread (store/limit-counters.ts, maxStripes): every sign-in to a country writes it.
    await incrementCounters(trx, destinationsOf(phone, countryOf(phone)).map(d => stripeOf(bucket(enteredKey(d), now), enteredTurn++ % maxStripes)))
  }

  /** The admin's view of destinations: figures, reasons and verdicts. */
  async function describe (destinations: readonly Destination[]): Promise<Array<{ destination: Destination, figures: DestinationFigures, suspicion: string | undefined }>> {
    const figures = await readFigures(db, destinations, clock.now())
    return destinations.map(d => {
      const f = figures.get(d.key) as DestinationFigures
      return { destination: d, figures: f, suspicion: suspicionOf(d, f) }
    })
  }

  return { screen, takeSend, countEntered, describe, destinationsOf }
}


export type FraudGuard = ReturnType<typeof createFraudGuard>
