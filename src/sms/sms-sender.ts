export interface SmsMessage {
  /** E.164 */
  to: string
  body: string
  /** The code itself, only for the console provider's deliberate log line. */
  code: string
}

/** A provider delivers or throws SmsDeliveryError; a code whose SMS failed is never valid. */
export interface SmsSender {
  readonly name: string
  send: (message: SmsMessage) => Promise<void>
  /** Lets go of pooled connections when the app closes. */
  close?: () => Promise<void>
}

export class SmsDeliveryError extends Error {
  override name = 'SmsDeliveryError'
}
