import t from 'tap'
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
