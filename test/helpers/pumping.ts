import { solveChallenge } from 'altcha-lib/v1'
import { parsePhoneNumberWithError } from 'libphonenumber-js/max'
import type { TestContext } from './app.js'

// The numbers of issue 23's SMS-pumping attacks and of the ordinary people beside them, and the
// solving of a fraud-guard challenge as an app does it (with ALTCHA's own library).

export interface AltchaChallenge { algorithm: string, challenge: string, maxnumber?: number, salt: string, signature: string }

/** The solution an app sends back: base64 of ALTCHA's JSON, solved with ALTCHA's own library. */
export async function solve (challenge: AltchaChallenge): Promise<string> {
  const solution = await solveChallenge(challenge.challenge, challenge.salt, challenge.algorithm, challenge.maxnumber).promise
  if (solution === null) throw new Error('no solution found')
  return Buffer.from(JSON.stringify({ algorithm: challenge.algorithm, challenge: challenge.challenge, number: solution.number, salt: challenge.salt, signature: challenge.signature })).toString('base64')
}

function mobile (e164: string): boolean {
  const parsed = parsePhoneNumberWithError(e164)
  return parsed.isValid() && parsed.getType() === 'MOBILE'
}

/** Distinct numbers drawn by `make` (given a counter), kept when libphonenumber calls them mobile. */
function numbers (count: number, make: (i: number) => string): string[] {
  const found = new Set<string>()
  for (let i = 0; found.size < count && i < count * 50; i++) {
    const phone = make(i)
    if (mobile(phone)) found.add(phone)
  }
  if (found.size < count) throw new Error(`only ${found.size} numbers`)
  return [...found]
}

// Ordinary people: first sign-ins from other countries (Russia, Germany, France, Kazakhstan, Spain).
const ordinaryPrefixes = ['+7912', '+49151', '+33612', '+7701', '+34612']
export const ordinary = numbers(120, i => `${ordinaryPrefixes[i % ordinaryPrefixes.length] ?? ''}${String(1_000_000 + i * 7919).slice(-7)}`)
// The first attack's range, as in the review: +44 7911 12xx xx.
export const prefixAttack = numbers(500, i => `+44791112${String(i).padStart(4, '0')}`)
// The second: random mobile numbers all over one country (Nigeria here, +234 80x / 81x / 70x ...).
export const countryAttack = numbers(500, i => `+234${['803', '806', '813', '816', '703', '706', '810', '814'][i % 8] ?? ''}${String(1_000_000 + ((i * 104_729) % 9_000_000)).slice(-7)}`)


/**
 * An SMS-pumping attack on +44 7911 12: twenty numbers asked for through the API, each from its
 * own address, none entered (past the tenth, the guard asks the attack for challenges); a minute
 * later a new number there meets the challenge. The numbers used are the prefix's first twenty.
 */
export async function pumpPrefix (context: TestContext): Promise<void> {
  for (const [i, phone] of prefixAttack.slice(0, 20).entries()) {
    const answer = await context.app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone }, remoteAddress: `203.0.113.${i + 1}` })
    if (answer.statusCode >= 500) throw new Error(`register ${phone}: ${answer.statusCode} ${answer.body}`)
  }
  context.clock.advance(61_000)
}
