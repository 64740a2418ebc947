import { createHmac, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

// Local stand-ins for Twilio (Messages and Calls resources) and the WhatsApp Cloud API (the
// Graph API's messages endpoint), speaking their wire formats, and their callbacks signed as
// the providers sign them. The signatures are computed here the documented way (not with the
// twilio library, whose validator is what the server checks them with).

export type Answer = (response: ServerResponse) => void

interface Server {
  url: string
  close: () => Promise<void>
}

async function listen (handle: (request: IncomingMessage, raw: string, response: ServerResponse) => void): Promise<Server & { server: ReturnType<typeof createServer> }> {
  const server = createServer((request, response) => {
    let raw = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => { raw += chunk })
    request.on('end', () => { handle(request, raw, response) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    async close () {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** A callback as the provider would post it: the test injects it into the app. */
export interface SignedCallback {
  url: string
  headers: Record<string, string>
  payload: string
}

export const twilioSid = 'AC' + '0123456789abcdef'.repeat(2)
export const twilioToken = 'twilio-test-auth-token-0123456789'

export interface TwilioRequest {
  resource: 'Messages' | 'Calls'
  sid: string
  form: Record<string, string>
}

/**
 * Twilio's request validation, as its docs describe it: the full URL, then each POST field's
 * name and value in the order of the names, HMAC-SHA1 with the auth token, in base64.
 */
export function twilioSignature (authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params).sort().reduce((text, name) => text + name + (params[name] ?? ''), url)
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64')
}

export async function startTwilioStandIn () {
  const requests: TwilioRequest[] = []
  const behaviours: Partial<Record<TwilioRequest['resource'], Answer>> = {}
  const server = await listen((request, raw, response) => {
    const match = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/(Messages|Calls)\.json$/.exec(request.url ?? '')
    const expected = 'Basic ' + Buffer.from(`${twilioSid}:${twilioToken}`).toString('base64')
    if (match === null || request.method !== 'POST') return void response.writeHead(404).end()
    if (request.headers.authorization !== expected || request.headers['content-type'] !== 'application/x-www-form-urlencoded') {
      return void response.writeHead(401, { 'content-type': 'application/json' }).end('{"code":20003,"message":"Authenticate","status":401}')
    }
    const resource = match[2] as TwilioRequest['resource']
    const form = Object.fromEntries(new URLSearchParams(raw))
    const sid = (resource === 'Messages' ? 'SM' : 'CA') + randomBytes(16).toString('hex')
    const behaviour = behaviours[resource]
    if (behaviour !== undefined) return behaviour(response)
    requests.push({ resource, sid, form })
    response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ sid, account_sid: twilioSid, to: form.To, status: 'queued' }))
  })
  return {
    url: server.url,
    requests,
    close: server.close,
    behave (resource: TwilioRequest['resource'], answer: Answer | undefined) { behaviours[resource] = answer },
    /** The code in the newest SMS (its domain-bound last line) or call (its TwiML's digits) to `to`. */
    lastCode (to: string): string {
      const last = requests.filter(r => r.form.To === to).at(-1)
      if (last === undefined) throw new Error(`Twilio got nothing for ${to}`)
      const text = last.resource === 'Messages' ? last.form.Body ?? '' : (last.form.Twiml ?? '').replace(/, /g, '')
      const code = /(\d{4,8})/.exec(text)?.[1]
      if (code === undefined) throw new Error('no code in the request')
      return code
    },
    /** The status callback Twilio would post for this message or call. */
    statusCallback (sent: TwilioRequest, status: string, token = twilioToken): SignedCallback {
      const url = sent.form.StatusCallback
      if (url === undefined) throw new Error('no StatusCallback was given')
      const params: Record<string, string> = sent.resource === 'Messages'
        ? { AccountSid: twilioSid, MessageSid: sent.sid, SmsSid: sent.sid, MessageStatus: status, SmsStatus: status, To: sent.form.To ?? '', ApiVersion: '2010-04-01' }
        : { AccountSid: twilioSid, CallSid: sent.sid, CallStatus: status, To: sent.form.To ?? '', Direction: 'outbound-api', ApiVersion: '2010-04-01' }
      return {
        url: new URL(url).pathname,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(token, url, params) },
        payload: new URLSearchParams(params).toString()
      }
    }
  }
}

export type TwilioStandIn = Awaited<ReturnType<typeof startTwilioStandIn>>

export const whatsAppPhoneNumberId = '106540352242922'
export const whatsAppToken = 'whatsapp-test-access-token-0123456789'
export const whatsAppAppSecret = 'whatsapp-test-app-secret-0123456789'
export const whatsAppVerifyToken = 'whatsapp-test-verify-token-0123456789'

export interface WhatsAppRequest {
  id: string
  payload: {
    messaging_product: string
    to: string
    type: string
    template: { name: string, language: { code: string }, components: Array<{ type: string, sub_type?: string, index?: string, parameters: Array<{ type: string, text: string }> }> }
  }
}

export async function startWhatsAppStandIn () {
  const requests: WhatsAppRequest[] = []
  let behaviour: Answer | undefined
  const server = await listen((request, raw, response) => {
    if (request.method !== 'POST' || request.url !== `/v23.0/${whatsAppPhoneNumberId}/messages`) return void response.writeHead(404).end()
    if (request.headers.authorization !== `Bearer ${whatsAppToken}`) {
      return void response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}')
    }
    if (behaviour !== undefined) return behaviour(response)
    const payload = JSON.parse(raw) as WhatsAppRequest['payload']
    const id = 'wamid.' + randomBytes(24).toString('base64url')
    requests.push({ id, payload })
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      messaging_product: 'whatsapp', contacts: [{ input: payload.to, wa_id: payload.to }], messages: [{ id }]
    }))
  })
  return {
    url: `${server.url}/v23.0`,
    requests,
    close: server.close,
    behave (answer: Answer | undefined) { behaviour = answer },
    lastCode (to: string): string {
      const last = requests.filter(r => `+${r.payload.to}` === to).at(-1)
      const code = last?.payload.template.components[0]?.parameters[0]?.text
      if (code === undefined) throw new Error(`WhatsApp got nothing for ${to}`)
      return code
    },
    /** The webhook Meta would post for this message's status, signed with the app secret. */
    statusWebhook (sent: WhatsAppRequest, status: string, secret = whatsAppAppSecret): SignedCallback {
      const body = JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [{
          id: '102290129340398',
          changes: [{
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550783881', phone_number_id: whatsAppPhoneNumberId },
              statuses: [{
                id: sent.id,
                status,
                timestamp: String(Math.floor(Date.now() / 1000)),
                recipient_id: sent.payload.to,
                ...(status === 'failed' ? { errors: [{ code: 131026, title: 'Message undeliverable' }] } : {})
              }]
            }
          }]
        }]
      })
      return {
        url: '/callbacks/whatsapp',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=' + createHmac('sha256', secret).update(body).digest('hex') },
        payload: body
      }
    }
  }
}

export type WhatsAppStandIn = Awaited<ReturnType<typeof startWhatsAppStandIn>>

/** The settings that point an app's channels at the stand-ins. */
export function channelEnv (twilio: TwilioStandIn, whatsapp: WhatsAppStandIn): Record<string, string> {
  return {
    PUBLIC_URL: 'https://auth.example.test',
    SMS_PROVIDER: 'twilio',
    TWILIO_BASE_URL: twilio.url,
    TWILIO_ACCOUNT_SID: twilioSid,
    TWILIO_AUTH_TOKEN: twilioToken,
    TWILIO_FROM: '+15005550006',
    TWILIO_VOICE_FROM: '+15005550006',
    CHANNELS: 'sms',
    CHANNELS_BY_COUNTRY: 'RU=whatsapp,sms,voice',
    WHATSAPP_TOKEN: whatsAppToken,
    WHATSAPP_PHONE_NUMBER_ID: whatsAppPhoneNumberId,
    WHATSAPP_APP_SECRET: whatsAppAppSecret,
    WHATSAPP_VERIFY_TOKEN: whatsAppVerifyToken,
    WHATSAPP_BASE_URL: whatsapp.url
  }
}
