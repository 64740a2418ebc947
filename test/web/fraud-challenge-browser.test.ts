/// <reference lib="dom" />
// Functions passed to page.evaluate run in the browser, hence the DOM types.
import t from 'tap'
import type { Browser, Page } from 'playwright-core'
import type { TestContext } from '../helpers/app.js'
import { prefixAttack, pumpPrefix } from '../helpers/pumping.js'
import { newDesktopContext, seriousAxeViolations, startBrowserSuite, tabTo, watchProblems } from './chromium.js'

// Issue 23, "Done when": a person whose number is in the attacked prefix still signs in, in
// Chromium, through the challenge on the pages: keyboard only, under the strict CSP, axe clean
// in English and Russian; the page's own script (/assets/challenge.js) solves the challenge.
// Also measures the solve time at the default difficulty (reported, never asserted: the
// machine is shared).

let context: TestContext
let base: string
let browser: Browser

t.before(async () => {
  ({ context, base, browser } = await startBrowserSuite(t, { FRAUD_GUARD: 'enforce', SMS_HOURLY_CAP: '200' }))
  await pumpPrefix(context)
})



/** Presses Enter in the sign-in form and waits for the page its post answers with (403 or 303). */
async function sendPhone (page: Page): Promise<number> {
  const [response] = await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')])
  return response?.status() ?? 0
}

async function solvedValue (page: Page): Promise<string> {
  await page.waitForFunction(() => (document.querySelector('input[name="challenge"]') as HTMLInputElement | null)?.value !== '', undefined, { timeout: 30_000 })
  return await page.inputValue('input[name="challenge"]')
}

const journeys = [
  { locale: 'en-GB', person: prefixAttack[490] as string, done: 'Check done. Press “Send code”.', asked: 'a quick automatic check comes first', waitFirst: true },
  { locale: 'ru-RU', person: prefixAttack[491] as string, done: 'Проверка пройдена. Нажмите «Получить код».', asked: 'быстрая автоматическая проверка', waitFirst: false }
]

for (const journey of journeys) {
  t.test(`a person in the attacked prefix signs in through the challenge, keyboard only (${journey.locale})`, async t => {
    const page = await (await newDesktopContext(t, browser, { locale: journey.locale })).newPage()
    const problems = watchProblems(page, text => text.includes('403'))
    await page.goto(base + '/login')
    await tabTo(page, '#phone', 25)
    await page.keyboard.type(journey.person)
    t.equal(await sendPhone(page), 403, 'the send asks for the check')
    t.match(await page.textContent('#phone-error'), journey.asked, 'the message, beside the phone')
    t.equal(await page.inputValue('#phone'), journey.person, 'the phone kept')
    t.equal(await page.evaluate(() => document.activeElement?.id), 'phone', 'the focus on the field with the message')
    if (journey.waitFirst) {
      // Wait for the check, as the status line says, then Tab to the button and press Enter.
      await solvedValue(page)
      t.equal(await page.textContent('.challenge-status'), journey.done, 'the status line says the check is done and what to press')
      await tabTo(page, 'form[action="/login"] button', 5)
    } else {
      // Enter at once, from the phone field: the form goes as soon as the check is done.
      t.comment(`status when Enter was pressed: ${await page.textContent('.challenge-status')}`)
    }
    await Promise.all([page.waitForURL(url => new URL(url).pathname === '/login/code', { timeout: 30_000 }), page.keyboard.press('Enter')])
    const code = context.sms.lastCode(journey.person)
    t.match(code, new RegExp(`^\\d{${context.config.otp.length}}$`), 'the SMS sink received the code')
    await tabTo(page, '#auth_code', 25)
    await page.keyboard.type(code)
    await Promise.all([page.waitForURL(url => new URL(url).pathname === '/profile'), page.keyboard.press('Enter')])
    t.match(await page.textContent('main'), journey.person.slice(-4), 'signed in')
    t.same(problems, [], 'no CSP refusal or script error')
  })
}

t.test('the challenge page is axe clean while checking and when done, in both languages; without JavaScript it says why', async t => {
  for (const [i, locale] of ['en-GB', 'ru-RU'].entries()) {
    // axe is injected as a script, which the CSP rightly refuses: this context alone bypasses it.
    const page = await (await newDesktopContext(t, browser, { locale, bypassCSP: true })).newPage()
    await page.goto(base + '/login')
    await page.fill('#phone', prefixAttack[492 + i] as string)
    await page.focus('#phone')
    t.equal(await sendPhone(page), 403)
    t.same(await seriousAxeViolations(page), [], `axe: the challenge page as it loads (${locale})`)
    await solvedValue(page)
    t.same(await seriousAxeViolations(page), [], `axe: the challenge page, check done (${locale})`)
    t.equal(await page.getAttribute('.challenge-status', 'role'), 'status', 'the status line is a live region')
  }
  const page = await (await newDesktopContext(t, browser, { locale: 'en-GB', javaScript: false })).newPage()
  await page.goto(base + '/login')
  await page.fill('#phone', prefixAttack[494] as string)
  await page.focus('#phone')
  t.equal(await sendPhone(page), 403)
  t.match(await page.textContent('main'), 'Before a code is sent to this number, a quick automatic check is needed, and it needs JavaScript.', 'the noscript message is shown')
})

t.test('solve time at the default difficulty, in Chromium, over 10 challenges (logged, not asserted)', async t => {
  t.equal(context.config.fraudGuard.challengeMaxNumber, 50_000, 'the default difficulty')
  const page = await (await newDesktopContext(t, browser, { locale: 'en-GB' })).newPage()
  const times: number[] = []
  const rates: number[] = []
  for (let i = 0; i < 10; i++) {
    await page.goto(base + '/login')
    await page.fill('#phone', prefixAttack[495] as string)
    await page.focus('#phone')
    t.equal(await sendPhone(page), 403)
    const solution = JSON.parse(Buffer.from(await solvedValue(page), 'base64').toString('utf8')) as { number: number }
    const ms = Number(await page.getAttribute('input[name="challenge"]', 'data-solved-ms'))
    times.push(ms)
    rates.push((solution.number + 1) / Math.max(ms, 1))
  }
  const sorted = [...times].sort((a, b) => a - b)
  const median = ((sorted[4] as number) + (sorted[5] as number)) / 2
  const rate = [...rates].sort((a, b) => a - b)[5] as number
  t.comment(`solve times (ms): ${times.join(', ')}; median ${median} ms, max ${sorted[9] ?? 0} ms`)
  t.comment(`about ${Math.round(rate * 1000)} hashes/s: the worst case (number = maxnumber 50000) ≈ ${Math.round(50_000 / rate)} ms`)
})
