export interface SmsMessage {
  /** E.164 */
  to: string
  body: string
  /** The code itself, only for the console provider's deliberate log line. */
  code: string
  /** Where the provider may post the message's fate (Twilio's StatusCallback); unset: nowhere. */
  statusCallback?: string | undefined
}

/** What a provider says of a message it took: its own id, which its receipts name. */
export interface SentMessage {
  providerId?: string | undefined
}

/** A provider delivers or throws SmsDeliveryError; a code whose SMS failed is never valid. */
export interface SmsSender {
  readonly name: string
  send: (message: SmsMessage) => Promise<SentMessage | undefined | void>
  /** Lets go of pooled connections when the app closes. */
  close?: () => Promise<void>
}

export class SmsDeliveryError extends Error {
  override name = 'SmsDeliveryError'
}
