import { parsePhoneNumberWithError, type CountryCode, type NumberType } from 'libphonenumber-js/max'
import { DomainError } from './errors.js'

// libphonenumber turns full-width and Arabic-Indic digits into ASCII and drops trailing text
// such as "ext. 12", so the raw characters are checked before it sees them.
const allowedCharacters = /^\+?[0-9 ()-]+$/
const maxInputLength = 32

export interface PhoneRules {
  /** Country assumed for numbers written without a leading "+". */
  defaultCountry: CountryCode
  /** Fixed test numbers are accepted even when no real number has that form (+1 555 01xx). */
  isTestNumber: (e164: string) => boolean
}

/** Normalises what a person typed into E.164 ("+79123456789"), or refuses it. */
export function normalizePhone (raw: string, rules: PhoneRules): string {
  const input = raw.trim()
  if (input.length === 0 || input.length > maxInputLength || !allowedCharacters.test(input)) {
    throw new DomainError('phone_invalid', { field: 'phone' })
  }
  let parsed
  try {
    parsed = parsePhoneNumberWithError(input, { defaultCountry: rules.defaultCountry })
  } catch {
    throw new DomainError('phone_invalid', { field: 'phone' })
  }
  const e164 = parsed.number
  if (rules.isTestNumber(e164)) return e164
  if (!parsed.isValid()) throw new DomainError('phone_invalid', { field: 'phone' })
  return e164
}

/** "+79123456789" → "+7 912 345 67 89", for people to read. */
export function formatPhoneForDisplay (e164: string): string {
  try {
    return parsePhoneNumberWithError(e164).formatInternational()
  } catch {
    return e164
  }
}

/** "+79123456789" → "+7912***6789", for logs. */
export function maskPhone (e164: string): string {
  if (e164.length <= 8) return e164.slice(0, 2) + '***'
  return e164.slice(0, 5) + '***' + e164.slice(-4)
}

// Types that can take an SMS. FIXED_LINE_OR_MOBILE is how the US and Canada number both;
// a number whose type the metadata does not know is let through rather than locked out.
const smsCapableTypes = new Set<NumberType>(['MOBILE', 'FIXED_LINE_OR_MOBILE', undefined])

/**
 * SMS pumping defence: refuses, before any SMS is sent, numbers outside the allowed countries
 * and numbers that cannot take an SMS but can bill one (premium rate, shared cost, toll-free,
 * VoIP, personal numbers, pagers, fixed lines). Test numbers never reach this. Returns the
 * number's country (ISO 3166, or the calling code where it has none), for the fraud guard.
 */
export function checkSmsDestination (e164: string, allowedCountries: readonly CountryCode[]): string {
  let parsed
  try {
    parsed = parsePhoneNumberWithError(e164)
  } catch {
    throw new DomainError('phone_invalid', { field: 'phone' })
  }
  if (allowedCountries.length > 0 && (parsed.country === undefined || !allowedCountries.includes(parsed.country))) {
    throw new DomainError('phone_country_not_allowed', { field: 'phone' })
  }
  if (!smsCapableTypes.has(parsed.getType())) throw new DomainError('phone_not_allowed', { field: 'phone' })
  return parsed.country ?? `+${parsed.countryCallingCode}`
}

/** The number's country (ISO 3166), or its calling code (`+882`) where it has none. */
export function countryOfPhone (e164: string): string {
  try {
    const parsed = parsePhoneNumberWithError(e164)
    return parsed.country ?? `+${parsed.countryCallingCode}`
  } catch {
    return 'unknown'
  }
}
