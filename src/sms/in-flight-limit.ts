import { SmsDeliveryError, type SmsSender } from './sms-sender.js'

/**
 * At most `max` sends wait on the provider at once; one more is refused at once, as a failed
 * send (503 sms_unavailable). Each send already ends within SMS_TIMEOUT_MS, but a provider
 * that hangs would otherwise hold one open request (and socket) per register for that long,
 * however many come: the bound keeps them, and the memory they hold, flat.
 */
export function limitInFlight (sender: SmsSender, max: number): SmsSender {
  let inFlight = 0
  return {
    ...sender,
    name: sender.name,
    async send (message) {
      if (inFlight >= max) throw new SmsDeliveryError(`${max} SMS sends already wait on the provider`)
      inFlight++
      try {
        return await sender.send(message)
      } finally {
        inFlight--
      }
    }
  }
}
