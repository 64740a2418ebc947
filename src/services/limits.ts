import { DomainError } from '../domain/errors.js'
import { decrementCounters, incrementCounter, incrementCounters, readCounter, type CounterWindow } from '../store/limit-counters.js'
import { maxStripes, stripeOf, takeSpreadCounters } from '../store/limit-counters.js'
import type { DbOrTransaction } from '../store/database.js'
import type { ServiceContext } from './context.js'

const hour = 3_600_000
const day = 86_400_000
// The service-wide SMS counters (not about any one phone).
const smsHourKey = 'sms:all:h'
const smsDayKey = 'sms:all:d'
const smsRefusedKey = 'sms:refused:h'
// A ceiling for a count that caps nothing (the column is a 32-bit integer on PostgreSQL).
export const uncapped = 2_147_483_647

/** The SMS budget as the admin sees it; times are epoch milliseconds. */
export interface SmsSpend {
  hourlyCap: number
  hour: { sent: number, refused: number, windowStart: number, windowEnd: number }
  day: { sent: number, windowStart: number, windowEnd: number }
}

/**
 * An IPv6 client usually holds a whole /64, so its addresses share one budget; an IPv4
 * address mapped into IPv6 counts as the IPv4 address.
 */
export function ipSubject (ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped?.[1] !== undefined) return mapped[1]
  if (!ip.includes(':')) return ip
  const [head = '', tail] = ip.toLowerCase().split('%')[0]?.split('::') ?? []
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return groups.slice(0, 4).map(group => group.replace(/^0+(?=.)/, '')).join(':') + '::/64'
}

/** Counts taken that may have to be given back, in the caller's transaction or on their own. */
export interface Taken {
  giveBack: (db: DbOrTransaction) => Promise<void>
}

/** A try that was counted, and the refusal it met if it went over a limit. */
export interface CountedTry {
  taken: Taken
  refusal?: DomainError
}

/**
 * A code send's counts, and what refused it if anything did: a quota (the phone's or the
 * address's), or the hour's SMS budget. The caller throws them in that order, with the resend
 * spacing between the two, so the refusal rolls back every count.
 */
export interface CountedSend {
  /** The phone's quotas and the SMS budget: given back when the SMS then fails. */
  taken: Taken
  quotaRefusal?: DomainError
  smsCapRefusal?: DomainError
}

/** Counts the fraud guard adds to a send's statement (services/fraud-guard.ts). */
export interface GuardCounts {
  windows: CounterWindow[]
  ceilings: number[]
  /** The refusal each counter at its ceiling stands for; undefined: it caps nothing. */
  refusals: Array<DomainError | undefined>
}

const noGuardCounts: GuardCounts = { windows: [], ceilings: [], refusals: [] }

/** Seconds until the window ends: a refusal's Retry-After. */
export function secondsLeft (window: CounterWindow, now: number): number {
  return Math.max(1, Math.ceil((window.expiresAt - now) / 1000))
}

/** The fixed window of `length` ms that `now` falls in, for the counter `key`. */
export function windowOf (key: string, length: number, now: number): CounterWindow {
  const windowStart = Math.floor(now / length) * length
  return { key, windowStart, expiresAt: windowStart + length }
}

/**
 * The abuse rules of docs/SECURITY.md. Every counter lives in limit_counters, in fixed
 * windows (an hour, a UTC day), incremented atomically, so the rules hold across instances
 * and restarts. Each refusal carries Retry-After: the end of the window that refused.
 *
 * The counters are taken in the caller's transaction (`trx`), beside the write they guard:
 * a refused request rolls back what it had taken, and a request's counts cost one commit. A
 * request's counters are taken together, in one statement, where the rules allow.
 */
export function createLimits ({ db, config, clock, logger }: Pick<ServiceContext, 'db' | 'config' | 'clock' | 'logger'>) {
  const limits = config.limits
  // Which row of a spread counter this process writes next: taken in turn, so the rows share the load.
  let spreadTurn = 0
  const spreadRow = (window: CounterWindow): CounterWindow => stripeOf(window, spreadTurn++ % maxStripes)

  function taken (windows: CounterWindow[]): Taken {
    return { giveBack: async (trx) => { await decrementCounters(trx, windows) } }
  }

  /**
   * When a code is stored: the phone's hourly and daily quota (not for test numbers, which
   * send nothing) and the client IP's hourly quota. A device that signed in to this phone
   * before has a quota of its own, so someone spending the phone's cannot keep the owner
   * from getting a code. Above both, the phone's ceiling counts every code to it however it
   * was asked for, so no number of devices, sign-ins or addresses sends more. And the
   * service-wide SMS budget, last (the rows every send writes: locked for the shortest time, and
   * spread over several, store/limit-counters.ts). Each budget is never overdrawn: at its limit
   * nothing is counted, and the refusal comes back for the caller to throw, which rolls back
   * every count (a refused request costs nothing). Two statements: the quotas with the uncapped
   * counts, then the capped budgets (takeSpreadCounters), asked only when no quota refused.
   */
  async function takeCodeSend (trx: DbOrTransaction, phone: string, deviceId: string | undefined, ip: string, isTestNumber: boolean, guard: GuardCounts = noGuardCounts): Promise<CountedSend> {
    if (isTestNumber) return { taken: taken([]) }
    const now = clock.now()
    const subject = deviceId === undefined ? `phone:${phone}` : `device:${deviceId}:${phone}`
    const phoneQuotas = [
      { window: windowOf(`code:${subject}:h`, hour, now), limit: limits.codesPerPhoneHour },
      { window: windowOf(`code:${subject}:d`, day, now), limit: limits.codesPerPhoneDay },
      { window: windowOf(`code:all:${phone}:h`, hour, now), limit: limits.codesPerPhoneAllHour },
      { window: windowOf(`code:all:${phone}:d`, day, now), limit: limits.codesPerPhoneAllDay }
    ]
    const ipHour = windowOf(`code:ip:${ipSubject(ip)}:h`, hour, now)
    const smsHour = windowOf(smsHourKey, hour, now)
    // The day's count caps nothing; it is kept for the admin's view of the spend (smsSpend),
    // since the hour's counters are deleted once their hour is over.
    const smsDay = windowOf(smsDayKey, day, now)
    // The service-wide counters every send writes are spread over several rows (store/spread-counters.ts):
    // the uncapped ones (the day's count, the guard's per destination) on one row of their spread,
    // counted in the quotas' statement; the capped ones (the hour's budget, the guard's shares of it)
    // in a statement of their own, after the quotas, each never past its ceiling.
    const guardCapped = guard.windows.flatMap((window, i) => guard.ceilings[i] === uncapped ? [] : [{ window, ceiling: guard.ceilings[i] as number, refusal: guard.refusals[i] }])
    const guardUncapped = guard.windows.filter((_, i) => guard.ceilings[i] === uncapped).map(spreadRow)
    const dayRow = spreadRow(smsDay)
    const counts = await incrementCounters(trx,
      [...phoneQuotas.map(quota => quota.window), ipHour, dayRow, ...guardUncapped],
      [...phoneQuotas.map(quota => quota.limit), limits.codesPerIpHour, uncapped, ...guardUncapped.map(() => uncapped)])
    const ipCount = counts[phoneQuotas.length]
    const phoneOver = phoneQuotas.find((_, i) => counts[i] === undefined)
    const quotaRefusal = phoneOver !== undefined
      ? new DomainError('too_many_codes', { field: 'phone', retryAfter: secondsLeft(phoneOver.window, now) })
      : ipCount === undefined ? new DomainError('rate_limited', { field: 'phone', retryAfter: secondsLeft(ipHour, now) }) : undefined
    // A refused quota is thrown first and rolls everything back: the budget need not be asked.
    if (quotaRefusal !== undefined) return { taken: taken([]), quotaRefusal }
    const budgets = await takeSpreadCounters(trx, [{ window: smsHour, ceiling: config.sms.hourlyCap }, ...guardCapped], spreadTurn++)
    const guardRefusal = guardCapped.find((counter, i) => counter.refusal !== undefined && budgets[i + 1] === undefined)?.refusal
    const smsCapRefusal = budgets[0] === undefined ? new DomainError('sms_cap_reached', { field: 'phone', retryAfter: secondsLeft(smsHour, now) }) : guardRefusal
    const takenBudgets = budgets.filter((window): window is CounterWindow => window !== undefined)
    return {
      // The guard's counts are given back too: an SMS that failed was not sent anywhere.
      taken: taken([...phoneQuotas.map(quota => quota.window), dayRow, ...guardUncapped, ...takenBudgets]),
      ...(smsCapRefusal === undefined ? {} : { smsCapRefusal })
    }
  }

  /**
   * A sign-in from a device without a token of this phone: true when the phone may collect
   * one more device identity today (a budget of its own), false when its day's are used up.
   */
  async function takeNewDevice (trx: DbOrTransaction, phone: string): Promise<boolean> {
    const window = windowOf(`device:new:${phone}:d`, day, clock.now())
    return await incrementCounter(trx, window, limits.newDevicesPerPhoneDay) !== undefined
  }

  /** SMS sent this clock hour (against SMS_HOURLY_CAP) and this UTC day, and the hour's refusals by the cap. */
  async function smsSpend (): Promise<SmsSpend> {
    const now = clock.now()
    const hourWindow = windowOf(smsHourKey, hour, now)
    const dayWindow = windowOf(smsDayKey, day, now)
    return {
      hourlyCap: config.sms.hourlyCap,
      hour: { sent: await readCounter(db, hourWindow), refused: await readCounter(db, windowOf(smsRefusedKey, hour, now)), windowStart: hourWindow.windowStart, windowEnd: hourWindow.expiresAt },
      day: { sent: await readCounter(db, dayWindow), windowStart: dayWindow.windowStart, windowEnd: dayWindow.expiresAt }
    }
  }

  /**
   * Counts refusals by the SMS cap, so exactly one request — the first refused in the hour,
   * on whichever instance — writes the alert line.
   */
  async function smsCapRefused (): Promise<void> {
    const window = windowOf(smsRefusedKey, hour, clock.now())
    if (await incrementCounter(db, window) !== 1) return
    logger.error({ alert: 'sms_hourly_cap', cap: config.sms.hourlyCap, windowStart: new Date(window.windowStart).toISOString() },
      'ALERT: SMS_HOURLY_CAP reached; no more SMS this hour')
  }

  /**
   * Counts a try at a code before it is compared, whatever it turns out to be: on the
   * device's own budget when the device signed in to this phone before, else on the phone's,
   * and on the client IP's. Tries are counted even when refused, so the counters tell how
   * many were made; the window does not grow for it. The refusal is returned, not thrown, so
   * the caller's transaction keeps the counts. A right code gives its count back.
   */
  async function countCodeTry (trx: DbOrTransaction, phone: string, deviceId: string | undefined, ip: string): Promise<CountedTry> {
    const now = clock.now()
    const subject = deviceId === undefined
      ? { window: windowOf(`wrong:phone:${phone}:d`, day, now), limit: limits.wrongCodesPerPhoneDay }
      : { window: windowOf(`wrong:device:${deviceId}:${phone}:d`, day, now), limit: limits.wrongCodesPerDeviceDay }
    const ipHour = windowOf(`wrong:ip:${ipSubject(ip)}:h`, hour, now)
    const [subjectCount = 0, ipCount = 0] = await incrementCounters(trx, [subject.window, ipHour])
    const counted = taken([subject.window, ipHour])
    if (subjectCount > subject.limit) {
      return { taken: counted, refusal: new DomainError('too_many_wrong_codes', { field: 'auth_code', retryAfter: secondsLeft(subject.window, now) }) }
    }
    if (ipCount > limits.wrongCodesPerIpHour) {
      return { taken: counted, refusal: new DomainError('rate_limited', { field: 'auth_code', retryAfter: secondsLeft(ipHour, now) }) }
    }
    return { taken: counted }
  }

  /**
   * Counts a try at an invite code before the lookup, even when refused (returned, like a
   * code try's); a code that exists gives it back.
   */
  async function countInviteTry (trx: DbOrTransaction, userId: number): Promise<CountedTry> {
    const now = clock.now()
    const window = windowOf(`invite:user:${userId}:h`, hour, now)
    const count = await incrementCounter(trx, window) ?? 0
    if (count > limits.wrongInvitesPerUserHour) {
      return { taken: taken([window]), refusal: new DomainError('rate_limited', { field: 'invite_code', retryAfter: secondsLeft(window, now) }) }
    }
    return { taken: taken([window]) }
  }

  /**
   * A passkey ceremony's options asked for from this address (LIMIT_PASSKEY_OPTIONS_PER_IP_HOUR):
   * each stores a challenge, so asking is what is bounded. Never overdrawn: at the limit nothing
   * is counted and the refusal is thrown.
   */
  async function takePasskeyOptions (ip: string, perHour: number): Promise<void> {
    const now = clock.now()
    const window = windowOf(`passkey:ip:${ipSubject(ip)}:h`, hour, now)
    const count = await incrementCounter(db, window, perHour)
    if (count === undefined) throw new DomainError('rate_limited', { retryAfter: secondsLeft(window, now) })
  }

  return { takeCodeSend, takeNewDevice, smsSpend, smsCapRefused, countCodeTry, countInviteTry, takePasskeyOptions }
}

export type Limits = ReturnType<typeof createLimits>
