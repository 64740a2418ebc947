import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { formatChance, guessingChancePerDay } from '../../src/domain/odds.js'

t.test('the default limits keep a guesser under 1e-3 a day for one phone (the issue\'s target)', async t => {
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'sqlite::memory:' })
  const chance = guessingChancePerDay({
    digits: config.otp.length,
    triesPerCode: config.otp.maxAttempts,
    codesPerDay: config.limits.codesPerPhoneDay,
    wrongTriesPerDay: config.limits.wrongCodesPerPhoneDay
  })
  t.equal(config.otp.length, 4)
  t.ok(chance <= 1e-3, `chance ${chance}`)
  t.equal(formatChance(chance), '1.00e-3', 'the figure docs/SECURITY.md gives')
  t.equal(chance.toFixed(7), '0.0009996', '3 + 3 + 3 + 1 guesses on four codes')
})

t.test('the table of docs/SECURITY.md', async t => {
  const rows: Array<[number, number, number, number | undefined, string]> = [
    [4, 3, 1440, undefined, '35.08 %'],
    [4, 3, 24, undefined, '7.18e-3'],
    [4, 3, 10, undefined, '3.00e-3'],
    [4, 3, 3, undefined, '9.00e-4'],
    [4, 5, 1440, undefined, '51.33 %'],
    [4, 3, 1440, 10, '1.00e-3'],
    [6, 3, 10, 10, '1.00e-5'],
    [6, 3, 1440, undefined, '4.31e-3']
  ]
  for (const [digits, triesPerCode, codesPerDay, wrongTriesPerDay, expected] of rows) {
    t.equal(formatChance(guessingChancePerDay({ digits, triesPerCode, codesPerDay, wrongTriesPerDay })), expected, `${digits} digits, ${triesPerCode} × ${codesPerDay}, F=${wrongTriesPerDay}`)
  }
})
