import { Agent, request } from 'undici'
import { newMessageId, signWebhook, webhookKey } from '../domain/webhook-signature.js'
import { SmsDeliveryError, type SmsSender } from './sms-sender.js'

const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])

/**
 * POSTs {"to", "body"} as JSON to a URL of the operator's (their own gateway, a queue, a
 * provider's webhook). A non-2xx answer, a network error or the timeout means "not sent".
 * undici's request over a keep-alive agent: fetch costs several times more per call.
 * With `secrets` (SMS_WEBHOOK_SECRET) each POST is signed as phonepass's own webhooks are
 * (Standard Webhooks), so the gateway can check it comes from phonepass.
 */
export function createWebhookSender (url: string, timeoutMs: number, secrets: readonly string[] = []): SmsSender {
  const keys = secrets.map(webhookKey)
  const dispatcher = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 10_000 })
  return {
    name: 'webhook',
    async send ({ to, body }) {
      // One deadline for the whole call. undici's own timeouts run on a coarse clock (a 300 ms
      // one can fire a second late) and apply per phase, so a slow connect, a late answer or a
      // dribbled body could each stretch a send well past SMS_TIMEOUT_MS.
      const deadline = AbortSignal.timeout(timeoutMs)
      let statusCode: number
      const json = JSON.stringify({ to, body })
      const signature = keys.length === 0 ? {} : signWebhook(keys, newMessageId(), Math.floor(Date.now() / 1000), json)
      try {
        const response = await request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signature },
          body: json,
          dispatcher,
          signal: deadline
        })
        statusCode = response.statusCode
        // Drain the body so the connection can be reused. The status has answered already: a
        // body the deadline cuts off changes nothing (its connection is closed, not reused).
        await response.body.dump({ limit: 128 * 1024, signal: deadline }).catch(() => {})
      } catch (error) {
        const code = (error as { code?: string }).code ?? ''
        const reason = deadline.aborted || timeoutCodes.has(code) ? `no answer in ${timeoutMs} ms` : (error as Error).message
        throw new SmsDeliveryError(`SMS webhook failed: ${reason}`, { cause: error })
      }
      if (statusCode < 200 || statusCode >= 300) throw new SmsDeliveryError(`SMS webhook answered ${statusCode}`)
    },
    async close () {
      await dispatcher.close()
    }
  }
}
