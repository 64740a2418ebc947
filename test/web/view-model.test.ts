import t from 'tap'
import { formatWindow } from '../../src/http/web/admin-view-model.js'
import { formatMoment } from '../../src/http/web/view-model.js'
import { formatWait } from '../../src/i18n/catalogue.js'

// The formatters are built once per locale (and unit) and kept: each locale must still get
// its own, whichever was asked for first.
t.test('moments are formatted in each locale, in any order', async t => {
  const moment = Date.UTC(2026, 10, 30, 14, 5)
  const english = formatMoment('en', moment)
  const russian = formatMoment('ru', moment)
  t.equal(english, 'Nov 30, 2026, 2:05 PM UTC')
  t.match(russian, /^30 нояб\. 2026 г\., 14:05 UTC$/)
  t.equal(formatMoment('en', moment), english, 'English again after Russian')
  t.equal(formatMoment('en', Date.UTC(2025, 0, 2, 3, 4)), 'Jan 2, 2025, 3:04 AM UTC', 'another moment, same formatter')
})

t.test('waits are formatted in each locale and unit, in any order', async t => {
  t.equal(formatWait('en', 45), '45 seconds')
  t.equal(formatWait('en', 600), '10 minutes')
  t.equal(formatWait('ru', 45), '45 секунд')
  t.equal(formatWait('ru', 600), '10 минут')
  t.equal(formatWait('en', 7200), '2 hours')
  t.equal(formatWait('en', 44), '44 seconds', 'seconds again after minutes and hours')
})

t.test('Russian waits are in the accusative that "через" takes', async t => {
  const cases: Array<[number, string]> = [
    [1, '1 секунду'], [2, '2 секунды'], [5, '5 секунд'], [11, '11 секунд'], [21, '21 секунду'], [51, '51 секунду'], [54, '54 секунды'],
    [60 * 21, '21 минуту'], [60 * 31, '31 минуту'], [60 * 2 + 1, '3 минуты'], [60 * 5, '5 минут'],
    [3600 * 2, '2 часа'], [3600 * 21, '21 час'], [3600 * 5, '5 часов']
  ]
  for (const [seconds, expected] of cases) t.equal(formatWait('ru', seconds), expected, `${seconds} s`)
  t.equal(formatWait('en', 1), '1 second', 'English is left as Intl gives it')
})

t.test('a counting window is short: an hour as a range of times, a day as its date', async t => {
  const hourStart = Date.UTC(2026, 10, 30, 14)
  // ICU puts thin and narrow spaces around the dash and before PM, as its version has it.
  t.match(formatWindow('en', hourStart, hourStart + 3_600_000), /^Nov 30, 2026, 2:00\s?–\s?3:00\sPM UTC$/)
  t.match(formatWindow('ru', hourStart, hourStart + 3_600_000), /^30 нояб\. 2026\sг\., 14:00\s?–\s?15:00 UTC$/)
  const dayStart = Date.UTC(2026, 10, 30)
  t.equal(formatWindow('en', dayStart, dayStart + 86_400_000), 'Nov 30, 2026 UTC')
  t.match(formatWindow('ru', dayStart, dayStart + 86_400_000), /^30 нояб\. 2026\sг\. UTC$/)
  t.equal(formatMoment('en', hourStart), 'Nov 30, 2026, 2:00 PM UTC', 'the moment formatter it shares is unchanged')
})
