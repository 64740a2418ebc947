import { createHmac, timingSafeEqual } from 'node:crypto'
import { validateRequest } from 'twilio/lib/webhooks/webhooks.js'
import { twilioCallbackPath } from '../channels/delivery.js'
import type { Channel } from '../channels/settings.js'
import { DomainError } from '../domain/errors.js'
import { countryOfPhone } from '../domain/phone.js'
import type { Metrics } from '../ops/metrics.js'
import { applyReceipt, countMessagesSince, markCodeUndelivered } from '../store/messages.js'
import type { ServiceContext } from './context.js'

type Fate = 'delivered' | 'undelivered'

// Twilio's final statuses of a message and of a call; the others (queued, ringing…) say nothing yet.
const twilioFates: Record<string, Fate> = {
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'undelivered',
  completed: 'delivered',
  busy: 'undelivered',
  'no-answer': 'undelivered',
  canceled: 'undelivered'
}
// WhatsApp's statuses: read comes after delivered, and is taken for it if delivered was lost.
const whatsAppFates: Record<string, Fate> = { delivered: 'delivered', read: 'delivered', failed: 'undelivered' }

/** Delivery by channel and country, as the admin pages show it. */
export interface DeliveryRate {
  channel: string
  country: string
  /** Handed to the provider. */
  sent: number
  delivered: number
  undelivered: number
  /** Refused at once by the provider (the next channel was tried). */
  failed: number
  /** delivered / (delivered + undelivered): of the messages whose fate is known; null when none is. */
  rate: number | null
}

interface WhatsAppWebhook {
  entry?: Array<{ changes?: Array<{ value?: { statuses?: Array<{ id?: unknown, status?: unknown }> } }> }>
}

/**
 * Delivery receipts (Twilio status callbacks, WhatsApp webhooks) and what they are for: a
 * message's fate in `messages`, the delivery rate per channel and country, and an undelivered
 * code's next send at once by another channel. A callback is believed only with the provider's
 * signature, checked before anything is read.
 */
export function createChannelService ({ db, config, clock, delivery, logger }: ServiceContext, metrics?: Metrics) {
  const settings = config.channels

  /** The channels a number may ask for its code by (the code page's choice). */
  function channelsForPhone (phone: string): Channel[] {
    return delivery.channelsFor(countryOfPhone(phone))
  }

  async function settle (provider: string, providerId: string, fate: Fate): Promise<boolean> {
    const now = clock.now()
    const applied = await db.transaction().execute(async (trx) => {
      const receipt = await applyReceipt(trx, provider, providerId, fate, now)
      // The code of that send may go again at once, by another channel (the same transaction:
      // the mark exists exactly when the message is recorded undelivered).
      if (receipt !== undefined && fate === 'undelivered') await markCodeUndelivered(trx, receipt.sendId, receipt.channel)
      return receipt
    })
    if (applied === undefined) return false
    metrics?.channelReceipts.inc({ channel: applied.channel, country: applied.country, status: fate })
    logger.info({ provider, providerId, channel: applied.channel, status: fate }, 'delivery receipt')
    return true
  }

  /**
   * A Twilio status callback (an SMS's or a call's), checked with twilio's own validator against
   * the URL Twilio was given (PUBLIC_URL, never the request's Host) and TWILIO_AUTH_TOKEN.
   */
  async function receiveTwilio (params: Record<string, string>, signature: string | undefined): Promise<void> {
    const token = settings.twilioAuthToken
    if (token === undefined || settings.publicUrl === undefined) throw new DomainError('not_found')
    if (signature === undefined || !validateRequest(token, signature, settings.publicUrl + twilioCallbackPath, params)) {
      throw new DomainError('signature_invalid')
    }
    const sid = params.MessageSid ?? params.CallSid
    const fate = twilioFates[params.MessageStatus ?? params.CallStatus ?? '']
    if (sid !== undefined && fate !== undefined) await settle('twilio', sid, fate)
  }

  /** The WhatsApp app's webhook set-up: the challenge back when the verify token matches. */
  function verifyWhatsApp (mode: string | undefined, token: string | undefined, challenge: string | undefined): string {
    const expected = settings.whatsapp?.verifyToken
    if (expected === undefined || mode !== 'subscribe' || token === undefined || challenge === undefined || !sameText(token, expected)) {
      throw new DomainError('signature_invalid')
    }
    return challenge
  }

  /** A WhatsApp webhook: X-Hub-Signature-256 is the HMAC-SHA256 of the raw body with the app secret. */
  async function receiveWhatsApp (rawBody: Buffer, signature: string | undefined): Promise<void> {
    const secret = settings.whatsapp?.appSecret
    if (secret === undefined) throw new DomainError('not_found')
    const expected = 'sha256=' + createHmac('sha256', secret).update(rawBody).digest('hex')
    if (signature === undefined || !sameText(signature.toLowerCase(), expected)) throw new DomainError('signature_invalid')
    let body: WhatsAppWebhook
    try {
      body = JSON.parse(rawBody.toString('utf8')) as WhatsAppWebhook
    } catch {
      throw new DomainError('parse_error')
    }
    for (const entry of body.entry ?? []) {
      for (const change of entry.changes ?? []) {
        for (const status of change.value?.statuses ?? []) {
          const fate = typeof status.status === 'string' ? whatsAppFates[status.status] : undefined
          if (typeof status.id === 'string' && fate !== undefined) await settle('whatsapp', status.id, fate)
        }
      }
    }
  }

  /** Messages of the last `sinceMs`, by channel and country, with their delivery rate. */
  async function deliveryRates (sinceMs = 86_400_000): Promise<DeliveryRate[]> {
    const rates = new Map<string, DeliveryRate>()
    for (const row of await countMessagesSince(db, clock.now() - sinceMs)) {
      const key = `${row.channel} ${row.country}`
      const rate = rates.get(key) ?? { channel: row.channel, country: row.country, sent: 0, delivered: 0, undelivered: 0, failed: 0, rate: null }
      if (row.status === 'failed') rate.failed += row.count
      else {
        rate.sent += row.count
        if (row.status === 'delivered') rate.delivered += row.count
        if (row.status === 'undelivered') rate.undelivered += row.count
      }
      const known = rate.delivered + rate.undelivered
      rate.rate = known === 0 ? null : rate.delivered / known
      rates.set(key, rate)
    }
    return [...rates.values()]
  }

  return { channelsForPhone, receiveTwilio, verifyWhatsApp, receiveWhatsApp, deliveryRates }
}

function sameText (given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

export type ChannelService = ReturnType<typeof createChannelService>
