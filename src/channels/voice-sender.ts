import { translate, type Locale } from '../i18n/catalogue.js'
import { SmsDeliveryError } from '../sms/sms-sender.js'
import { twilioFormPoster } from '../sms/twilio-sender.js'
import { readJson, type ChannelSender } from './channel-sender.js'
import type { VoiceSettings } from './settings.js'

// Twilio's <Say> language and an Amazon Polly voice that speaks it.
const sayIn: Record<Locale, { language: string, voice: string }> = {
  en: { language: 'en-US', voice: 'Polly.Joanna' },
  ru: { language: 'ru-RU', voice: 'Polly.Tatyana' }
}

function escapeXml (text: string): string {
  return text.replace(/[<>&"']/g, c => `&#${c.charCodeAt(0)};`)
}

/**
 * The call's TwiML: the code read digit by digit, a comma (a pause) between digits, then once
 * more after a pause, in the person's language.
 */
export function codeCallTwiml (code: string, locale: Locale): string {
  const { language, voice } = sayIn[locale]
  const digits = code.split('').join(', ')
  const say = (key: 'voice_code' | 'voice_code_again'): string =>
    `<Say language="${language}" voice="${voice}">${escapeXml(translate(locale, key, { digits }))}</Say>`
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Pause length="1"/>${say('voice_code')}<Pause length="2"/>${say('voice_code_again')}</Response>`
}

/**
 * Twilio's Calls resource (POST /2010-04-01/Accounts/{sid}/Calls.json, form-encoded, Basic auth)
 * with the TwiML inline: no URL of ours is fetched during the call. 201 with the call's sid is
 * taken. Not tried twice: a second call could ring the person twice.
 */
export function createVoiceSender (settings: VoiceSettings, timeoutMs: number): ChannelSender {
  const postForm = twilioFormPoster(settings, 'Calls', timeoutMs)
  return {
    channel: 'voice',
    provider: 'twilio',
    async send ({ to, code, locale, statusCallback }) {
      const form = new URLSearchParams({ To: to, From: settings.from, Twiml: codeCallTwiml(code, locale) })
      if (statusCallback !== undefined) {
        form.set('StatusCallback', statusCallback)
        form.set('StatusCallbackMethod', 'POST')
      }
      let response: Response
      try {
        response = await postForm(form)
      } catch (error) {
        const reason = (error as Error).name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (error as Error).message
        throw new SmsDeliveryError(`Twilio call: ${reason}`, { cause: error })
      }
      const answer = await readJson<{ sid: string, code: number, message: string }>(response)
      if ((response.status === 201 || response.status === 200) && typeof answer.sid === 'string') return { providerId: answer.sid }
      throw new SmsDeliveryError(`Twilio call answered ${response.status}${answer.code === undefined ? '' : ` (error ${answer.code}: ${answer.message ?? ''})`}`)
    }
  }
}
