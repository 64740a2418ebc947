import { readFileSync } from 'node:fs'
import t from 'tap'
import type { Browser, Page } from 'playwright-core'
import type { TestContext } from '../helpers/app.js'
import { seriousAxeViolations, startBrowserSuite } from './chromium.js'

// The account's own pages in real Chromium, with and without JavaScript, in English and
// Russian: change the number, download my data, delete the account; axe on each page.

let context: TestContext
let base: string
let browser: Browser

t.before(async () => {
  ({ context, base, browser } = await startBrowserSuite(t))
})

async function submit (page: Page, form: string, path: string): Promise<void> {
  await Promise.all([page.waitForURL(url => new URL(url).pathname === path), page.click(`form[action="${form}"] button[type=submit]`)])
}

const journeys = [
  { name: 'without JavaScript, in English', javaScript: false, locale: 'en-GB', phone: '+79123480001', newPhone: '+79123480002' },
  { name: 'with JavaScript, in Russian', javaScript: true, locale: 'ru-RU', phone: '+79123480003', newPhone: '+79123480004' },
  // axe needs script: this journey checks the English pages with it.
  { name: 'with JavaScript, in English', javaScript: true, locale: 'en-GB', phone: '+79123480005', newPhone: '+79123480006' }
]

for (const journey of journeys) {
  t.test(`change the number, download my data, delete the account: ${journey.name}`, async t => {
    // axe is injected as a script, which the CSP rightly refuses: the JavaScript journey bypasses
    // it for that; the other runs with the real CSP and no script at all.
    const browserContext = await browser.newContext({ javaScriptEnabled: journey.javaScript, locale: journey.locale, bypassCSP: journey.javaScript, acceptDownloads: true, viewport: { width: 1280, height: 900 } })
    t.teardown(async () => { await browserContext.close() })
    const page = await browserContext.newPage()
    const problems: string[] = []
    page.on('pageerror', error => { problems.push(error.message) })

    async function checkAxe (name: string): Promise<void> {
      if (journey.javaScript) t.same(await seriousAxeViolations(page), [], `axe: ${name}`)
    }

    await page.goto(base + '/login')
    await page.fill('#phone', journey.phone)
    await submit(page, '/login', '/login/code')
    await page.fill('#auth_code', context.sms.lastCode(journey.phone))
    await submit(page, '/login/code', '/profile')

    // Change the number: the new one, a code to the current one (after the 60 s between codes),
    // then a code to the new one, and the account moves.
    context.clock.advance(61_000)
    await page.click('a[href="/profile/phone"]')
    await checkAxe('the new-number page')
    await page.fill('#phone', journey.newPhone)
    await submit(page, '/profile/phone', '/profile/phone/current')
    await checkAxe('the current number\'s code page')
    await page.fill('#auth_code', context.sms.lastCode(journey.phone))
    await submit(page, '/profile/phone/current', '/profile/phone/code')
    await checkAxe('the new number\'s code page')
    await page.fill('#auth_code', context.sms.lastCode(journey.newPhone))
    await submit(page, '/profile/phone/code', '/profile')
    t.match(await page.textContent('main'), journey.newPhone.slice(-2), 'the profile shows the new number')
    t.ok(context.sms.messages.some(message => message.to === journey.phone && !/\b\d{4}\b/.test(message.body)), 'the old number was told, without a code')

    // Download my data: a JSON file about this account.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[href="/profile/export"]')])
    const exported = JSON.parse(readFileSync(await download.path(), 'utf8')) as { profile?: { phone?: string } }
    t.equal(exported.profile?.phone, journey.newPhone, 'the export is this account\'s, with its new number')

    // Delete: what goes and what stays, a code, then signed out. The last code to this number
    // went out a moment ago: the next waits out the 60 s between codes.
    context.clock.advance(61_000)
    await page.goto(base + '/profile')
    await page.click('a[href="/profile/delete"]')
    await checkAxe('the delete page')
    await submit(page, '/profile/delete', '/profile/delete/code')
    await checkAxe('the delete code page')
    await page.fill('#auth_code', context.sms.lastCode(journey.newPhone))
    await submit(page, '/profile/delete/code', '/account-deleted')
    await checkAxe('the account-deleted page')
    await page.goto(base + '/profile')
    t.equal(new URL(page.url()).pathname, '/login', 'signed out: the profile asks for a sign-in')
    t.equal(await context.app.db.selectFrom('users').select('id').where('phone', '=', journey.newPhone).executeTakeFirst(), undefined, 'no account has the number any more')
    t.same(problems, [], 'no script error')
  })
}
