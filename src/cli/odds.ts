import { ConfigError, loadConfig } from '../config.js'
import { formatChance, guessingChancePerDay } from '../domain/odds.js'

/**
 * `npm run odds`: the chance per day that someone guesses their way into one phone, under the
 * limits this environment configures, and the docs/SECURITY.md table around it.
 */
try {
  const config = loadConfig()
  const configured = {
    triesPerCode: config.otp.maxAttempts,
    codesPerDay: config.limits.codesPerPhoneDay,
    wrongTriesPerDay: config.limits.wrongCodesPerPhoneDay
  }
  const lines = [
    `configured: ${config.otp.length} digits, OTP_MAX_ATTEMPTS=${configured.triesPerCode}, ` +
      `LIMIT_CODES_PER_PHONE_DAY=${configured.codesPerDay}, LIMIT_WRONG_CODES_PER_PHONE_DAY=${configured.wrongTriesPerDay}`,
    `chance per day for one phone: ${formatChance(guessingChancePerDay({ digits: config.otp.length, ...configured }))}`,
    '',
    'tries per code × codes per day → chance per day (without / with the per-phone wrong-try limit)'
  ]
  const codesPerDay = [1, 3, 10, 24, 1440]
  for (const digits of [4, 6]) {
    lines.push('', `${digits} digits | ${codesPerDay.map(c => `${c} codes`).join(' | ')}`)
    for (const triesPerCode of [1, 3, 5, 10]) {
      const cells = codesPerDay.map(c => {
        const without = guessingChancePerDay({ digits, triesPerCode, codesPerDay: c })
        const limited = guessingChancePerDay({ digits, triesPerCode, codesPerDay: c, wrongTriesPerDay: configured.wrongTriesPerDay })
        return `${formatChance(without)} / ${formatChance(limited)}`
      })
      lines.push(`${triesPerCode} tries | ${cells.join(' | ')}`)
    }
  }
  process.stdout.write(lines.join('\n') + '\n')
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(error.message + '\n')
  process.exitCode = 1
}
