import { SmsDeliveryError } from '../sms/sms-sender.js'
import { readJson, type ChannelSender } from './channel-sender.js'
import type { WhatsAppSettings } from './settings.js'

interface GraphAnswer {
  messages: Array<{ id?: string }>
  error: { message?: string, code?: number }
}

/**
 * WhatsApp Cloud API: POST {base}/{phone-number-id}/messages, JSON, Bearer token. The code goes
 * in an authentication template: once in the body's parameter and once in the copy-code
 * button's (Meta's documented payload). 200 with messages[0].id is taken; anything else, a
 * network error or no answer within the timeout is not, and the next channel is tried.
 */
export function createWhatsAppSender (settings: WhatsAppSettings, timeoutMs: number): ChannelSender {
  const url = `${settings.baseUrl}/${encodeURIComponent(settings.phoneNumberId)}/messages`
  return {
    channel: 'whatsapp',
    provider: 'whatsapp',
    async send ({ to, code, locale }) {
      const language = settings.languages[locale] ?? settings.languages.en ?? 'en_US'
      const payload = {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        // The Cloud API takes the number without its +.
        to: to.replace(/^\+/, ''),
        type: 'template',
        template: {
          name: settings.template,
          language: { code: language },
          components: [
            { type: 'body', parameters: [{ type: 'text', text: code }] },
            { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: code }] }
          ]
        }
      }
      let response: Response
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${settings.token}`, 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(payload),
          signal: AbortSignal.timeout(timeoutMs)
        })
      } catch (error) {
        const reason = (error as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (error as Error).message
        throw new SmsDeliveryError(`WhatsApp: ${reason}`, { cause: error })
      }
      const answer = await readJson<GraphAnswer>(response)
      const id = answer.messages?.[0]?.id
      if (response.status === 200 && typeof id === 'string') return { providerId: id }
      throw new SmsDeliveryError(`WhatsApp answered ${response.status}${answer.error === undefined ? '' : ` (error ${String(answer.error.code)}: ${answer.error.message ?? ''})`}`)
    }
  }
}
