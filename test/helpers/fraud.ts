import { solveChallenge } from 'altcha-lib/v1'
import { parsePhoneNumberWithError } from 'libphonenumber-js/max'
import type { TestContext } from './app.js'

/** The fraud guard's challenge as an error carries it (ALTCHA's JSON). */
export interface AltchaChallenge { algorithm: string, challenge: string, maxnumber?: number, salt: string, signature: string }

/** Mobile numbers of the prefix +44 7911 12 (the attack of test/api/fraud-guard.test.ts). */
export const attackedPrefix = Array.from({ length: 1000 }, (_, i) => `+44791112${String(i).padStart(4, '0')}`)
  .filter(phone => { const parsed = parsePhoneNumberWithError(phone); return parsed.isValid() && parsed.getType() === 'MOBILE' })

/**
 * An SMS-pumping attack on +44 7911 12: twenty numbers asked for through the API, each from its
 * own address, none entered (past the tenth, the guard asks the attack for challenges); a minute
 * later a new number there meets the challenge. The numbers used are the prefix's first twenty.
 */
export async function pumpPrefix (context: TestContext): Promise<void> {
  for (const [i, phone] of attackedPrefix.slice(0, 20).entries()) {
    const answer = await context.app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone }, remoteAddress: `203.0.113.${i + 1}` })
    if (answer.statusCode >= 500) throw new Error(`register ${phone}: ${answer.statusCode} ${answer.body}`)
  }
  context.clock.advance(61_000)
}

/** The solution a form or an app sends back: base64 of ALTCHA's JSON, solved by altcha-lib. */
export async function solveAltcha (challenge: AltchaChallenge): Promise<string> {
  const solution = await solveChallenge(challenge.challenge, challenge.salt, challenge.algorithm, challenge.maxnumber).promise
  if (solution === null) throw new Error('no solution found')
  return Buffer.from(JSON.stringify({ algorithm: challenge.algorithm, challenge: challenge.challenge, number: solution.number, salt: challenge.salt, signature: challenge.signature })).toString('base64')
}
