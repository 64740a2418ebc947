import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { DomainError } from '../domain/errors.js'
import { maskPhone } from '../domain/phone.js'
import { translate } from '../i18n/catalogue.js'
import type { Metrics } from '../ops/metrics.js'
import type { Clock } from '../services/clock.js'
import { windowOf, type GuardCounts } from '../services/limits.js'
import { SmsDeliveryError, type SmsSender } from '../sms/sms-sender.js'
import type { Db } from '../store/database.js'
import { incrementCounters } from '../store/limit-counters.js'
import { insertMessage } from '../store/messages.js'
import type { ChannelSender, CodeMessage } from './channel-sender.js'
import { orderFor, type Channel, type ChannelSettings } from './settings.js'

// The log line of a code sent, by channel (the SMS one as it always was).
const sentLine: Record<Channel, string> = { sms: 'SMS code sent', whatsapp: 'WhatsApp code sent', voice: 'code call placed' }
const hour = 3_600_000
const day = 86_400_000

/** Where Twilio posts the fate of an SMS or call, and the WhatsApp app's webhook: ops docs name them. */
export const twilioCallbackPath = '/callbacks/twilio'
export const whatsAppCallbackPath = '/callbacks/whatsapp'

/** One request's send: its id (on the code and its messages) and the channels it may try, in order. */
export interface SendPlan {
  sendId: string
  country: string
  order: readonly Channel[]
  /** The number's channels in its country's order (what it may ask for next). */
  offered: readonly Channel[]
}

export interface Delivered {
  channel: Channel
  /** Channels that failed before it, in this request. */
  failed: Channel[]
}

/**
 * The domain-bound last line of an SMS (`@host #code`), which Android's WebOTP and iOS's code
 * autofill read to offer the code to that site only.
 */
export function domainBoundLine (publicUrl: string | undefined, code: string): string {
  return publicUrl === undefined ? '' : `\n\n@${new URL(publicUrl).host} #${code}`
}

/** The SMS provider as a channel: the text of the person's language and the domain-bound line. */
export function smsChannel (sms: SmsSender, publicUrl: string | undefined): ChannelSender {
  return {
    channel: 'sms',
    provider: sms.name,
    async send ({ to, code, locale, minutes, statusCallback }) {
      const body = translate(locale, 'sms_text', { code, minutes }) + domainBoundLine(publicUrl, code)
      return await sms.send({ to, code, body, statusCallback }) ?? {}
    }
  }
}

export interface DeliveryDeps {
  db: Db
  clock: Clock
  logger: FastifyBaseLogger
  settings: ChannelSettings
  senders: Partial<Record<Channel, ChannelSender>>
  metrics?: Metrics | undefined
}

/**
 * Sends one code by the channels of its number's country, in order: when a provider refuses,
 * fails or does not answer in time, the next is tried within the same request. Each try is a
 * row of `messages` (no phone, no code). A call is counted on the voice caps before it is made.
 */
export function createCodeDelivery ({ db, clock, logger, settings, senders, metrics }: DeliveryDeps) {
  /** The channels offered to a number of `country` (those configured, in the country's order). */
  function channelsFor (country: string | undefined): Channel[] {
    return orderFor(settings, country).filter(channel => senders[channel] !== undefined)
  }

  /**
   * The order for this request: the asked-for channel first, then the rest of the country's
   * order. A channel not offered for the number is refused (400 channel_unavailable).
   */
  function plan (country: string | undefined, asked: Channel | undefined): SendPlan {
    const offered = channelsFor(country)
    if (asked !== undefined && !offered.includes(asked)) throw new DomainError('channel_unavailable', { field: 'channel' })
    const order = asked === undefined ? offered : [asked, ...offered.filter(channel => channel !== asked)]
    return { sendId: randomBytes(12).toString('base64url'), country: country ?? 'test', order, offered }
  }

  /** The voice caps (the phone's calls a day, the service's an hour), as counters with ceilings. */
  function voiceCounts (phone: string): GuardCounts {
    const voice = settings.voice
    if (voice === undefined) return { windows: [], ceilings: [], refusals: [] }
    const now = clock.now()
    const phoneDay = windowOf(`voice:phone:${phone}:d`, day, now)
    const allHour = windowOf('voice:all:h', hour, now)
    const retryAfter = (end: number): number => Math.max(1, Math.ceil((end - now) / 1000))
    return {
      windows: [phoneDay, allHour],
      ceilings: [voice.callsPerPhoneDay, voice.hourlyCap],
      refusals: [
        new DomainError('too_many_calls', { field: 'channel', retryAfter: retryAfter(phoneDay.expiresAt) }),
        new DomainError('too_many_calls', { field: 'channel', retryAfter: retryAfter(allHour.expiresAt) })
      ]
    }
  }

  /** Counts the send's first channel's own caps beside the send's other counts (voice only). */
  function firstChannelCounts (phone: string, sendPlan: SendPlan, guard: GuardCounts | undefined): GuardCounts | undefined {
    if (sendPlan.order[0] !== 'voice') return guard
    const voice = voiceCounts(phone)
    if (guard === undefined) return voice
    return { windows: [...guard.windows, ...voice.windows], ceilings: [...guard.ceilings, ...voice.ceilings], refusals: [...guard.refusals, ...voice.refusals] }
  }

  /** A call reached by fallback is counted on the voice caps first, on its own; false: capped. */
  async function takeFallbackCall (phone: string): Promise<boolean> {
    const counts = voiceCounts(phone)
    return await db.transaction().execute(async (trx) => {
      const taken = await incrementCounters(trx, counts.windows, counts.ceilings)
      if (taken.some(count => count === undefined)) throw new CallCapped()
      return true
    }).catch((error: unknown) => {
      if (error instanceof CallCapped) return false
      throw error
    })
  }

  async function record (sendPlan: SendPlan, sender: ChannelSender, status: 'sent' | 'failed', providerId: string | undefined): Promise<void> {
    const now = clock.now()
    metrics?.channelMessages.inc({ channel: sender.channel, country: sendPlan.country, outcome: status })
    await insertMessage(db, {
      id: randomBytes(12).toString('base64url'),
      send_id: sendPlan.sendId,
      channel: sender.channel,
      provider: sender.provider,
      provider_id: providerId ?? null,
      country: sendPlan.country,
      status,
      created_at: now
    }).catch((error: unknown) => {
      // The code went out; a lost row costs a receipt, not the sign-in.
      logger.warn({ err: error }, 'could not record a message')
    })
  }

  function callbackFor (sender: ChannelSender): string | undefined {
    if (settings.publicUrl === undefined || sender.provider !== 'twilio') return undefined
    return settings.publicUrl + twilioCallbackPath
  }

  /**
   * Brings the code by the first channel of the plan that takes it. Throws SmsDeliveryError
   * when none did (the caller then withdraws the code and gives back its counts).
   */
  async function deliver (sendPlan: SendPlan, message: Omit<CodeMessage, 'statusCallback'>): Promise<Delivered> {
    const failed: Channel[] = []
    for (const [i, channel] of sendPlan.order.entries()) {
      const sender = senders[channel]
      if (sender === undefined) continue
      if (channel === 'voice' && i > 0 && !await takeFallbackCall(message.to)) {
        logger.warn({ phone: maskPhone(message.to), channel }, 'fallback call skipped: the voice cap is reached')
        continue
      }
      try {
        const sent = await sender.send({ ...message, statusCallback: callbackFor(sender) })
        await record(sendPlan, sender, 'sent', sent.providerId)
        logger.info({ phone: maskPhone(message.to), channel, provider: sender.provider, failed }, sentLine[channel])
        return { channel, failed }
      } catch (error) {
        if (!(error instanceof SmsDeliveryError)) throw error
        failed.push(channel)
        await record(sendPlan, sender, 'failed', undefined)
        logger.warn({ err: error, phone: maskPhone(message.to), channel, provider: sender.provider }, 'code not sent by this channel; trying the next')
      }
    }
    throw new SmsDeliveryError(`no channel took the code (${failed.join(', ') || 'none configured'})`)
  }

  return { channelsFor, plan, firstChannelCounts, deliver }
}

class CallCapped extends Error {}

export type CodeDelivery = ReturnType<typeof createCodeDelivery>
