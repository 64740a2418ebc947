import type { CountryCode } from 'libphonenumber-js'
import { getCountries } from 'libphonenumber-js/max'
import { Type } from 'typebox'

/** How a code can reach a person (issue 25). */
export const channels = ['sms', 'whatsapp', 'voice'] as const
export type Channel = typeof channels[number]

export function isChannel (value: unknown): value is Channel {
  return typeof value === 'string' && (channels as readonly string[]).includes(value)
}

// The settings of the channels; config.ts spreads them into its schema.
export const ChannelEnvSchema = {
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^/?#]+$', description: 'the origin people and providers reach phonepass at, without a path, e.g. https://auth.example.com' })),
  CHANNELS: Type.String({ pattern: '^\\s*(sms|whatsapp|voice)(\\s*,\\s*(sms|whatsapp|voice))*\\s*$', default: 'sms', description: 'a comma-separated order of channels from sms, whatsapp, voice, e.g. whatsapp,sms' }),
  CHANNELS_BY_COUNTRY: Type.String({ pattern: '^(\\s*[A-Z]{2}\\s*=\\s*(sms|whatsapp|voice)(\\s*,\\s*(sms|whatsapp|voice))*\\s*(;\\s*[A-Z]{2}\\s*=\\s*(sms|whatsapp|voice)(\\s*,\\s*(sms|whatsapp|voice))*\\s*)*)?$', default: '', description: 'semicolon-separated COUNTRY=order entries, e.g. PK=whatsapp,sms;SL=whatsapp,voice,sms' }),
  WHATSAPP_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'a WhatsApp Cloud API access token (a system user\'s), at least 16 characters' })),
  WHATSAPP_PHONE_NUMBER_ID: Type.Optional(Type.String({ pattern: '^[0-9]{5,20}$', description: 'the WhatsApp business phone number\'s id (digits)' })),
  WHATSAPP_TEMPLATE: Type.String({ pattern: '^[a-z0-9_]{1,512}$', default: 'phonepass_code', description: 'the name of an approved authentication template with a copy-code button (lower-case letters, digits, underscores)' }),
  WHATSAPP_LANGUAGES: Type.String({ pattern: '^(en|ru):[A-Za-z_]{2,6}(,(en|ru):[A-Za-z_]{2,6})*$', default: 'en:en_US,ru:ru', description: 'page language to template language pairs, e.g. en:en_US,ru:ru' }),
  WHATSAPP_APP_SECRET: Type.Optional(Type.String({ minLength: 16, description: 'the Meta app\'s secret, which signs its webhooks (X-Hub-Signature-256), at least 16 characters' })),
  WHATSAPP_VERIFY_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'a random string of at least 16 characters, also typed into the app\'s webhook settings' })),
  WHATSAPP_BASE_URL: Type.String({ pattern: '^https?://[^?#]+[^/]$', default: 'https://graph.facebook.com/v23.0', description: 'the Graph API with its version and no trailing slash, e.g. https://graph.facebook.com/v23.0' }),
  TWILIO_VOICE_FROM: Type.Optional(Type.String({ pattern: '^\\+[0-9]{6,15}$', description: 'a Twilio number that can call, +E164' })),
  LIMIT_VOICE_CALLS_PER_PHONE_DAY: Type.Integer({ minimum: 1, maximum: 100, default: 2, description: 'a whole number from 1 to 100' }),
  VOICE_HOURLY_CAP: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 50, description: 'a whole number of calls an hour from 1 to 1000000' })
}

export interface ChannelEnv {
  PUBLIC_URL?: string | undefined
  CHANNELS: string
  CHANNELS_BY_COUNTRY: string
  WHATSAPP_TOKEN?: string | undefined
  WHATSAPP_PHONE_NUMBER_ID?: string | undefined
  WHATSAPP_TEMPLATE: string
  WHATSAPP_LANGUAGES: string
  WHATSAPP_APP_SECRET?: string | undefined
  WHATSAPP_VERIFY_TOKEN?: string | undefined
  WHATSAPP_BASE_URL: string
  TWILIO_ACCOUNT_SID?: string | undefined
  TWILIO_AUTH_TOKEN?: string | undefined
  TWILIO_BASE_URL: string
  TWILIO_VOICE_FROM?: string | undefined
  LIMIT_VOICE_CALLS_PER_PHONE_DAY: number
  VOICE_HOURLY_CAP: number
  SMS_PROVIDER: string
}

export interface WhatsAppSettings {
  readonly token: string
  readonly phoneNumberId: string
  readonly template: string
  /** Page locale → the template's language code. */
  readonly languages: Readonly<Record<string, string>>
  /** Checks the webhooks' X-Hub-Signature-256; undefined: receipts are refused. */
  readonly appSecret: string | undefined
  readonly verifyToken: string | undefined
  readonly baseUrl: string
}

export interface VoiceSettings {
  readonly accountSid: string
  readonly authToken: string
  readonly from: string
  readonly baseUrl: string
  readonly callsPerPhoneDay: number
  readonly hourlyCap: number
}

export interface ChannelSettings {
  /** The origin providers call back and the SMS's domain-bound line names; undefined: neither. */
  readonly publicUrl: string | undefined
  readonly defaultOrder: readonly Channel[]
  readonly orderByCountry: ReadonlyMap<string, readonly Channel[]>
  readonly whatsapp: WhatsAppSettings | undefined
  readonly voice: VoiceSettings | undefined
  /** TWILIO_AUTH_TOKEN, which signs Twilio's status callbacks (SMS and calls); undefined: none are taken. */
  readonly twilioAuthToken: string | undefined
}

export class ChannelSettingsError extends Error {}

function parseOrder (value: string): Channel[] {
  const order = value.split(',').map(name => name.trim()).filter(isChannel)
  return order.filter((channel, i) => order.indexOf(channel) === i)
}

/** The channel settings, each channel named in an order checked to have what it needs. */
export function parseChannelSettings (env: ChannelEnv): ChannelSettings {
  const defaultOrder = parseOrder(env.CHANNELS)
  const orderByCountry = new Map<string, Channel[]>()
  const known = getCountries()
  for (const entry of env.CHANNELS_BY_COUNTRY.split(';').map(e => e.trim()).filter(e => e !== '')) {
    const [country = '', order = ''] = entry.split('=').map(part => part.trim())
    if (!known.includes(country as CountryCode)) throw new ChannelSettingsError(`CHANNELS_BY_COUNTRY must name ISO 3166 country codes such as PK or GB, got ${JSON.stringify(country)}`)
    orderByCountry.set(country, parseOrder(order))
  }
  const named = new Set([...defaultOrder, ...[...orderByCountry.values()].flat()])
  let whatsapp: WhatsAppSettings | undefined
  if (named.has('whatsapp')) {
    if (env.WHATSAPP_TOKEN === undefined || env.WHATSAPP_PHONE_NUMBER_ID === undefined) {
      throw new ChannelSettingsError('WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID are required when CHANNELS or CHANNELS_BY_COUNTRY names whatsapp')
    }
    const languages = Object.fromEntries(env.WHATSAPP_LANGUAGES.split(',').map(pair => pair.split(':') as [string, string]))
    whatsapp = {
      token: env.WHATSAPP_TOKEN,
      phoneNumberId: env.WHATSAPP_PHONE_NUMBER_ID,
      template: env.WHATSAPP_TEMPLATE,
      languages,
      appSecret: env.WHATSAPP_APP_SECRET,
      verifyToken: env.WHATSAPP_VERIFY_TOKEN,
      baseUrl: env.WHATSAPP_BASE_URL
    }
  }
  let voice: VoiceSettings | undefined
  if (named.has('voice')) {
    if (env.TWILIO_ACCOUNT_SID === undefined || env.TWILIO_AUTH_TOKEN === undefined || env.TWILIO_VOICE_FROM === undefined) {
      throw new ChannelSettingsError('TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_VOICE_FROM are required when CHANNELS or CHANNELS_BY_COUNTRY names voice')
    }
    voice = {
      accountSid: env.TWILIO_ACCOUNT_SID,
      authToken: env.TWILIO_AUTH_TOKEN,
      from: env.TWILIO_VOICE_FROM,
      baseUrl: env.TWILIO_BASE_URL,
      callsPerPhoneDay: env.LIMIT_VOICE_CALLS_PER_PHONE_DAY,
      hourlyCap: env.VOICE_HOURLY_CAP
    }
  }
  const twilioUsed = voice !== undefined || env.SMS_PROVIDER === 'twilio'
  return {
    publicUrl: env.PUBLIC_URL,
    defaultOrder,
    orderByCountry,
    whatsapp,
    voice,
    twilioAuthToken: twilioUsed ? env.TWILIO_AUTH_TOKEN : undefined
  }
}

/** The channels a number in `country` may get its code by, in the order they are tried. */
export function orderFor (settings: ChannelSettings, country: string | undefined): readonly Channel[] {
  return (country === undefined ? undefined : settings.orderByCountry.get(country)) ?? settings.defaultOrder
}
