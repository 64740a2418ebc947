import { SmsDeliveryError, type SmsSender } from './sms-sender.js'

/**
 * POSTs {"to", "body"} as JSON to a URL of the operator's (their own gateway, a queue, a
 * provider's webhook). A non-2xx answer, a network error or the timeout means "not sent".
 */
export function createWebhookSender (url: string, timeoutMs: number): SmsSender {
  return {
    name: 'webhook',
    async send ({ to, body }) {
      let response: Response
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ to, body }),
          signal: AbortSignal.timeout(timeoutMs)
        })
      } catch (error) {
        const reason = (error as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (error as Error).message
        throw new SmsDeliveryError(`SMS webhook failed: ${reason}`, { cause: error })
      }
      // Drain the body so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined)
      if (!response.ok) throw new SmsDeliveryError(`SMS webhook answered ${response.status}`)
    }
  }
}
