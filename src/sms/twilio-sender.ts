import type { FastifyBaseLogger } from 'fastify'
import type { TwilioConfig } from '../config.js'
import { maskPhone } from '../domain/phone.js'
import { SmsDeliveryError, type SmsSender } from './sms-sender.js'

/** The account's Twilio credentials and the base URL (a local stand-in in tests). */
export interface TwilioAccount { baseUrl: string, accountSid: string, authToken: string }

/**
 * A form POST to one of the account's REST resources (`/2010-04-01/Accounts/{sid}/{resource}.json`,
 * Basic auth), given up after `timeoutMs`: the SMS and the voice senders each map its failures.
 */
export function twilioFormPoster (account: TwilioAccount, resource: 'Messages' | 'Calls', timeoutMs: number): (form: URLSearchParams) => Promise<Response> {
  const url = `${account.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(account.accountSid)}/${resource}.json`
  const authorization = 'Basic ' + Buffer.from(`${account.accountSid}:${account.authToken}`).toString('base64')
  return async form => await fetch(url, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: form,
    signal: AbortSignal.timeout(timeoutMs)
  })
}

/** Worth one more try: the request may never have reached Twilio, or Twilio failed inside. */
class Retryable extends SmsDeliveryError {}

/**
 * Twilio's Messages API (POST /2010-04-01/Accounts/{sid}/Messages.json, form-encoded, Basic
 * auth). 201 is sent. A connection error or a 5xx is tried once more; a 4xx is not (the
 * request itself is wrong: a bad number, a blocked destination); a timeout is not either, as
 * Twilio may have accepted it and a second try could send the code twice.
 */
export function createTwilioSender (twilio: TwilioConfig, timeoutMs: number, logger: FastifyBaseLogger): SmsSender {
  const postForm = twilioFormPoster(twilio, 'Messages', timeoutMs)

  async function post (form: URLSearchParams): Promise<string | undefined> {
    let response: Response
    try {
      response = await postForm(form)
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') throw new SmsDeliveryError(`Twilio: no answer in ${timeoutMs} ms`, { cause: error })
      throw new Retryable(`Twilio: ${(error as Error).message}`, { cause: error })
    }
    const text = await response.text().catch(() => '')
    let answer: { sid?: string, code?: number, message?: string } = {}
    try { answer = JSON.parse(text) as typeof answer } catch { /* not JSON: the status says enough */ }
    if (response.status === 201 || response.status === 200) return answer.sid
    const reason = `Twilio answered ${response.status}${answer.code === undefined ? '' : ` (error ${answer.code}: ${answer.message ?? ''})`}`
    throw response.status >= 500 ? new Retryable(reason) : new SmsDeliveryError(reason)
  }

  return {
    name: 'twilio',
    async send ({ to, body, statusCallback }) {
      const form = new URLSearchParams({ To: to, Body: body })
      if (statusCallback !== undefined) form.set('StatusCallback', statusCallback)
      if (twilio.messagingServiceSid !== undefined) form.set('MessagingServiceSid', twilio.messagingServiceSid)
      else if (twilio.from !== undefined) form.set('From', twilio.from)
      let sid
      try {
        sid = await post(form)
      } catch (error) {
        if (!(error instanceof Retryable)) throw error
        logger.warn({ err: error, phone: maskPhone(to), provider: 'twilio' }, 'SMS send failed; trying once more')
        sid = await post(form)
      }
      logger.info({ phone: maskPhone(to), provider: 'twilio', messageSid: sid }, 'Twilio accepted the SMS')
      return { providerId: sid }
    }
  }
}
