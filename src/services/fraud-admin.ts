/**
 * The fraud guard as operators see it (issue 23): the destinations of codes counted in the
 * guard's window, with their figures, the suspicion the guard sees in them and the operator's
 * verdict; and the verdicts themselves, set and removed by hand. The admin API and the admin
 * pages call these same functions; neither face holds a rule of its own.
 *
 * Reads take who reads first and write a `read.fraud` audit entry once done; each change is
 * written to fraud_rules and to the audit log (`fraud.allow`, `fraud.block`, `fraud.clear`) in
 * one transaction. The guard reads fraud_rules at every screening, so a verdict holds from the
 * next send on, in every instance.
 */
import { isSupportedCountry } from 'libphonenumber-js/max'
import { DomainError } from '../domain/errors.js'
import { deleteFraudRule, findFraudRules, listCountedDestinations, listFraudRules, setFraudRule } from '../store/fraud.js'
import type { FraudRuleRow, FraudVerdict } from '../store/schema.js'
import { recordAdminAction, type AdminCaller } from './audit.js'
import type { ServiceContext } from './context.js'
import { createFraudGuard, type Destination, type DestinationKind } from './fraud-guard.js'

export const fraudVerdicts = ['allow', 'block'] as const satisfies readonly FraudVerdict[]
export const fraudListDefaultLimit = 50
export const fraudListMaxLimit = 200
const reasonMaxLength = 500
// What a prefix may be: "+" and 2 to 14 digits (E.164 has at most 15).
const prefixPattern = /^\+\d{2,14}$/

/** An operator's verdict on a destination; times are epoch milliseconds. */
export interface FraudRule {
  destination: string
  kind: DestinationKind
  verdict: FraudVerdict
  reason: string
  /** Who set it, as the audit log names them (`key:support`, `phone:+7912…`). */
  setBy: string
  setAt: number
}

/** One destination counted in the window: the guard's figures, its reason for suspicion, the verdict. */
export interface FraudDestination {
  destination: string
  kind: DestinationKind
  sent: number
  entered: number
  solved: number
  /** Codes a window carried on average over the baseline days (0: none yet). */
  baselinePerWindow: number
  /** When a cooling-off period of the destination ends; null: none. */
  coolingUntil: number | null
  /** Why the guard calls it suspect, in words; null: it does not. */
  suspicion: string | null
  verdict: FraudRule | null
}

export interface FraudOverview {
  mode: 'enforce' | 'audit' | 'off'
  windowMinutes: number
  /** Busiest first (codes sent in the window). */
  destinations: FraudDestination[]
  /** Every verdict, newest first. */
  rules: FraudRule[]
}

export interface FraudRuleChange {
  destination: string
  kind: DestinationKind
  /** The verdict now (null: none, the guard decides alone). */
  verdict: FraudVerdict | null
  /** false when it already was so: nothing changed (the call is still in the audit log). */
  changed: boolean
}

/** A destination from the guard's key (`p:+44791112`, `c:GB`). */
function destinationOfKey (key: string): Destination | undefined {
  if (key.startsWith('p:')) return { key, kind: 'prefix', name: key.slice(2) }
  if (key.startsWith('c:')) return { key, kind: 'country', name: key.slice(2) }
  return undefined
}

/**
 * A destination as an operator types it: a number prefix (`+44791112`; spaces, dashes and
 * brackets are dropped) or a country's ISO 3166 code (`GB`, any case) of a country numbers
 * can be in; also the guard's own keys (`p:…`, `c:…`). destination_invalid otherwise.
 */
export function parseDestination (input: string): Destination {
  const text = input.trim().replace(/^[pc]:/i, '')
  if (text.startsWith('+')) {
    const prefix = text.replace(/[\s().-]/g, '')
    if (prefixPattern.test(prefix)) return { key: `p:${prefix}`, kind: 'prefix', name: prefix }
  } else if (/^[a-z]{2}$/i.test(text)) {
    const country = text.toUpperCase()
    if (isSupportedCountry(country)) return { key: `c:${country}`, kind: 'country', name: country }
  }
  throw new DomainError('destination_invalid', { field: 'destination' })
}

function ruleOf (row: FraudRuleRow): FraudRule | undefined {
  const destination = destinationOfKey(row.destination)
  if (destination === undefined) return undefined
  return { destination: destination.name, kind: destination.kind, verdict: row.verdict, reason: row.reason, setBy: row.set_by, setAt: Number(row.set_at) }
}

function actorName (by: AdminCaller): string {
  return `${by.actor.kind}:${by.actor.name}`.slice(0, 64)
}

export function createFraudAdmin (context: Pick<ServiceContext, 'db' | 'config' | 'clock' | 'keys' | 'logger'>) {
  const { db, config, clock, logger } = context
  const guard = createFraudGuard(context)
  const settings = config.fraudGuard

  function logAction (by: AdminCaller, action: string, destination: Destination): void {
    logger.info({ actor: `${by.actor.kind}:${by.actor.name}`, action, destination: destination.name, requestId: by.requestId }, 'admin action')
  }

  function reasonOf (reason: string | undefined, required: boolean): string | undefined {
    const trimmed = reason?.trim() ?? ''
    if (trimmed === '' && !required) return undefined
    if (trimmed === '' || trimmed.length > reasonMaxLength) throw new DomainError('reason_invalid', { field: 'reason' })
    return trimmed
  }

  /**
   * The destinations counted in the guard's window, busiest first (at most `limit`), each with
   * its figures, the guard's suspicion and the verdict; and every verdict. Audited (`read.fraud`).
   */
  async function overview (by: AdminCaller, query: { limit?: number | undefined } = {}): Promise<FraudOverview> {
    const limit = Math.min(Math.max(1, Math.floor(query.limit ?? fraudListDefaultLimit)), fraudListMaxLimit)
    const now = clock.now()
    const counted = await listCountedDestinations(db, 'fg:s:', now - settings.windowMs, limit)
    const candidates = counted.flatMap(({ key }) => destinationOfKey(key.slice('fg:s:'.length)) ?? [])
    const [described, rows] = await Promise.all([guard.describe(candidates), listFraudRules(db)])
    const rules = rows.flatMap(row => ruleOf(row) ?? [])
    const verdicts = new Map(rows.map(row => [row.destination, ruleOf(row)]))
    const destinations = described
      // The list's window starts a bucket earlier than the guard's: a destination it no longer counts is left out.
      .filter(({ figures }) => figures.sent > 0)
      .map(({ destination, figures, suspicion }) => ({
        destination: destination.name,
        kind: destination.kind,
        sent: figures.sent,
        entered: figures.entered,
        solved: figures.solved,
        baselinePerWindow: Math.round(figures.baselinePerWindow * 10) / 10,
        coolingUntil: figures.coolingUntil ?? null,
        suspicion: suspicion ?? null,
        verdict: verdicts.get(destination.key) ?? null
      }))
      // Busiest first; a prefix before its country at a tie (it says more), then by name.
      .sort((a, b) => b.sent - a.sent || (a.kind === b.kind ? a.destination.localeCompare(b.destination) : a.kind === 'prefix' ? -1 : 1))
    await recordAdminAction(db, now, by, 'read.fraud', { userId: null, phone: null }, { shown: destinations.length })
    return { mode: settings.mode, windowMinutes: Math.round(settings.windowMs / 60_000), destinations, rules }
  }

  /** Sets the verdict on a destination (replacing one there was), with the audit entry, in one transaction. */
  async function setVerdict (by: AdminCaller, input: { destination: string, verdict: string, reason: string | undefined }): Promise<FraudRuleChange> {
    const destination = parseDestination(input.destination)
    if (!(fraudVerdicts as readonly string[]).includes(input.verdict)) throw new DomainError('validation_error', { field: 'verdict' })
    const verdict = input.verdict as FraudVerdict
    const reason = reasonOf(input.reason, true) as string
    const result = await db.transaction().execute(async (trx) => {
      const now = clock.now()
      const [previous] = await findFraudRules(trx, [destination.key])
      const changed = previous?.verdict !== verdict
      await setFraudRule(trx, { destination: destination.key, verdict, reason, setBy: actorName(by), setAt: now })
      await recordAdminAction(trx, now, by, verdict === 'allow' ? 'fraud.allow' : 'fraud.block', { userId: null, phone: null }, {
        destination: destination.name, kind: destination.kind, reason, changed, ...(previous === undefined ? {} : { previous: previous.verdict })
      })
      return { destination: destination.name, kind: destination.kind, verdict, changed }
    })
    logAction(by, `fraud.${verdict}`, destination)
    return result
  }

  /** Removes the verdict on a destination: the guard decides alone again. Audited (`fraud.clear`) even when there was none. */
  async function clearVerdict (by: AdminCaller, rawDestination: string, rawReason?: string): Promise<FraudRuleChange> {
    const destination = parseDestination(rawDestination)
    const reason = reasonOf(rawReason, false)
    const result = await db.transaction().execute(async (trx) => {
      const [previous] = await findFraudRules(trx, [destination.key])
      const changed = await deleteFraudRule(trx, destination.key)
      await recordAdminAction(trx, clock.now(), by, 'fraud.clear', { userId: null, phone: null }, {
        destination: destination.name, kind: destination.kind, changed, ...(reason === undefined ? {} : { reason }), ...(previous === undefined ? {} : { previous: previous.verdict })
      })
      return { destination: destination.name, kind: destination.kind, verdict: null, changed }
    })
    logAction(by, 'fraud.clear', destination)
    return result
  }

  return { overview, setVerdict, clearVerdict, parseDestination }
}

export type FraudAdmin = ReturnType<typeof createFraudAdmin>
