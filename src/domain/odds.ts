/** What bounds a guesser aiming at one phone, for one day. */
export interface GuessingPolicy {
  digits: number
  /** Wrong tries a code allows before it is dead (OTP_MAX_ATTEMPTS). */
  triesPerCode: number
  /** Codes the guesser can have sent to the phone in a day (LIMIT_CODES_PER_PHONE_DAY). */
  codesPerDay: number
  /** Wrong tries the phone allows a day from devices that never signed in to it; undefined: no such limit. */
  wrongTriesPerDay?: number | undefined
}

/**
 * The chance that a guesser signs in as one phone within one day window. Each code is fresh
 * and uniformly random, so k distinct guesses at a code hit with chance k / 10^digits; the
 * guesses are spread over the codes, at most `triesPerCode` each and `wrongTriesPerDay` in all.
 */
export function guessingChancePerDay (policy: GuessingPolicy): number {
  const space = 10 ** policy.digits
  let guessesLeft = policy.wrongTriesPerDay ?? Infinity
  let missAll = 1
  for (let code = 0; code < policy.codesPerDay && guessesLeft > 0; code++) {
    const guesses = Math.min(policy.triesPerCode, guessesLeft)
    missAll *= 1 - guesses / space
    guessesLeft -= guesses
  }
  return 1 - missAll
}

/** "35.08 %" for large chances, "1.00e-3" for small ones. */
export function formatChance (chance: number): string {
  return chance >= 0.01 ? `${(chance * 100).toFixed(2)} %` : chance.toExponential(2)
}
