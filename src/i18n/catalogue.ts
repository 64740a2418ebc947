import Negotiator from 'negotiator'
import type { ErrorCode } from '../domain/errors.js'

export const locales = ['en', 'ru'] as const
export type Locale = typeof locales[number]
export const defaultLocale: Locale = 'en'

type Catalogue = Record<ErrorCode | MessageKey, string>

/** Texts that are not errors; pages add theirs here so both faces share one catalogue. */
export type MessageKey =
  | 'code_sent'
  | 'sms_text'
  | 'signed_out'
  | 'field_required'
  | 'field_type_string'
  | 'field_too_long'
  | 'field_too_short'
  | 'field_format'
  | 'field_unknown'

const en: Catalogue = {
  validation_error: 'Some fields are missing or invalid.',
  parse_error: 'The request body could not be read: send valid JSON or a form.',
  phone_invalid: 'Enter a valid phone number in international format, e.g. +44 7400 123456.',
  phone_not_allowed: 'Codes cannot be sent to this number. Use a mobile number.',
  code_invalid: 'The code is wrong.',
  code_expired: 'The code has expired. Ask for a new one.',
  code_not_found: 'There is no active code for this number. Ask for a new one.',
  too_many_attempts: 'Too many wrong codes. Ask for a new code in {wait}.',
  resend_too_soon: 'A code was sent a moment ago. You can ask for a new one in {wait}.',
  rate_limited: 'Too many requests. Try again in {wait}.',
  too_many_codes: 'Too many codes were sent to this number. You can ask for a new one in {wait}.',
  too_many_wrong_codes: 'Too many wrong codes for this number. Sign-in from a new device is paused; try again in {wait}, or from a device that signed in to this number before.',
  phone_country_not_allowed: 'Codes cannot be sent to numbers in this country.',
  sms_cap_reached: 'We cannot send more text messages right now. Try again in {wait}.',
  sms_unavailable: 'The text message could not be sent right now. Try again in a minute.',
  invite_code_invalid: 'An invite code is 6 letters and digits, e.g. K7M2XQ.',
  invite_own_code: 'This is your own invite code. Enter the code of the person who invited you.',
  invite_not_found: 'No one has this invite code. Check it and try again.',
  invite_already_activated: 'You have already activated an invite code.',
  invite_cycle: 'This code belongs to someone who joined with your code, so it cannot be yours.',
  not_authenticated: 'Authentication credentials were not provided.',
  token_not_valid: 'The token is invalid or expired. Sign in again.',
  not_found: 'Not found.',
  unsupported_media_type: 'Send the body as JSON or as a form.',
  payload_too_large: 'The request body is too large.',
  service_unavailable: 'The service is busy. Try again in a few seconds.',
  internal_error: 'Something went wrong on our side. Try again; if it goes on, quote the request id {requestId}.',
  code_sent: 'A code was sent to {phone}.',
  sms_text: 'Your phonepass code: {code}. It expires in {minutes} min. Do not share it.',
  signed_out: 'You have signed out.',
  field_required: 'This field is required.',
  field_type_string: 'Must be text.',
  field_too_long: 'Must be at most {limit} characters.',
  field_too_short: 'Must be at least {limit} characters.',
  field_format: 'Has the wrong format.',
  field_unknown: 'Has an invalid value.'
}

const ru: Catalogue = {
  validation_error: 'Некоторые поля не заполнены или заполнены неверно.',
  parse_error: 'Не удалось прочитать тело запроса: отправьте корректный JSON или форму.',
  phone_invalid: 'Введите номер телефона в международном формате, например +7 912 345-67-89.',
  phone_not_allowed: 'На этот номер нельзя отправить код. Укажите мобильный номер.',
  code_invalid: 'Неверный код.',
  code_expired: 'Срок действия кода истёк. Запросите новый.',
  code_not_found: 'Для этого номера нет действующего кода. Запросите новый.',
  too_many_attempts: 'Слишком много неверных кодов. Запросите новый код через {wait}.',
  resend_too_soon: 'Код только что отправлен. Новый можно запросить через {wait}.',
  rate_limited: 'Слишком много запросов. Повторите через {wait}.',
  too_many_codes: 'На этот номер отправлено слишком много кодов. Новый можно запросить через {wait}.',
  too_many_wrong_codes: 'Слишком много неверных кодов для этого номера. Вход с нового устройства приостановлен; повторите через {wait} или войдите с устройства, с которого уже входили в этот номер.',
  phone_country_not_allowed: 'На номера этой страны нельзя отправить код.',
  sms_cap_reached: 'Сейчас мы не можем отправить больше SMS. Повторите через {wait}.',
  sms_unavailable: 'Сейчас не удаётся отправить SMS. Повторите через минуту.',
  invite_code_invalid: 'Код приглашения — 6 букв и цифр, например K7M2XQ.',
  invite_own_code: 'Это ваш собственный код. Введите код человека, который вас пригласил.',
  invite_not_found: 'Такого кода приглашения нет. Проверьте его и повторите.',
  invite_already_activated: 'Вы уже активировали код приглашения.',
  invite_cycle: 'Этот код принадлежит человеку, который пришёл по вашему коду, поэтому его нельзя активировать.',
  not_authenticated: 'Учётные данные не были предоставлены.',
  token_not_valid: 'Токен недействителен или истёк. Войдите снова.',
  not_found: 'Не найдено.',
  unsupported_media_type: 'Отправьте тело запроса как JSON или как форму.',
  payload_too_large: 'Тело запроса слишком велико.',
  service_unavailable: 'Сервис занят. Повторите через несколько секунд.',
  internal_error: 'Что-то пошло не так на нашей стороне. Повторите; если ошибка не исчезнет, сообщите номер запроса {requestId}.',
  code_sent: 'Код отправлен на {phone}.',
  sms_text: 'Код phonepass: {code}. Действует {minutes} мин. Никому его не сообщайте.',
  signed_out: 'Вы вышли.',
  field_required: 'Обязательное поле.',
  field_type_string: 'Должно быть текстом.',
  field_too_long: 'Не более {limit} символов.',
  field_too_short: 'Не менее {limit} символов.',
  field_format: 'Неверный формат.',
  field_unknown: 'Недопустимое значение.'
}

const catalogues: Record<Locale, Catalogue> = { en, ru }

export type MessageParams = Record<string, string | number>

export function translate (locale: Locale, key: ErrorCode | MessageKey, params: MessageParams = {}): string {
  const template = catalogues[locale][key]
  return template.replace(/\{(\w+)\}/g, (match, name: string) => {
    const value = params[name]
    return value === undefined ? match : String(value)
  })
}

/** "in 45 seconds" / "через 3 минуты": a wait a person reads. */
export function formatWait (locale: Locale, seconds: number): string {
  const rounded = Math.max(1, Math.ceil(seconds))
  const [value, unit] = rounded < 120
    ? [rounded, 'second' as const]
    : rounded < 7200 ? [Math.ceil(rounded / 60), 'minute' as const] : [Math.ceil(rounded / 3600), 'hour' as const]
  return new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'long' }).format(value)
}

export function pickLocale (acceptLanguage: string | undefined): Locale {
  const headers = acceptLanguage === undefined ? {} : { 'accept-language': acceptLanguage }
  const [best] = new Negotiator({ headers }).languages([...locales])
  return (best as Locale | undefined) ?? defaultLocale
}
