import type { Locale } from '../i18n/catalogue.js'
import type { SentMessage } from '../sms/sms-sender.js'
import type { Channel } from './settings.js'

/** A code to bring to a person, by whatever channel. */
export interface CodeMessage {
  /** E.164 */
  to: string
  code: string
  locale: Locale
  /** The code's lifetime, for texts that say it. */
  minutes: number
  /** Where the provider may post the message's fate; undefined: nowhere (no PUBLIC_URL). */
  statusCallback?: string | undefined
}

/** One channel's provider: it takes the message (its id back) or throws SmsDeliveryError. */
export interface ChannelSender {
  readonly channel: Channel
  /** The provider's name, as the messages table and receipts know it. */
  readonly provider: string
  send: (message: CodeMessage) => Promise<SentMessage>
}

/** A provider's answer read as JSON, or {} when it is not JSON (its status then says enough). */
export async function readJson<T extends object> (response: Response): Promise<Partial<T>> {
  const text = await response.text().catch(() => '')
  try {
    return JSON.parse(text) as Partial<T>
  } catch {
    return {}
  }
}
