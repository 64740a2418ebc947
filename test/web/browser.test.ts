/// <reference lib="dom" />
// Functions passed to page.evaluate run in the browser, hence the DOM types.
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Browser, Page } from 'playwright-core'
import type { TestContext } from '../helpers/app.js'
import { repoRoot } from '../helpers/build.js'
import { WebClient } from './web-client.js'
import { newDesktopContext, seriousAxeViolations, startBrowserSuite, tabTo, watchProblems } from './chromium.js'

// Screens are always taken; `npm run screens` (UPDATE_SCREENS=1) writes them to docs/screens/,
// otherwise they go to a temporary folder so a test run leaves the work tree clean.
const screensDir = process.env.UPDATE_SCREENS === '1'
  ? join(repoRoot, 'docs', 'screens')
  : mkdtempSync(join(tmpdir(), 'phonepass-screens-'))

let context: TestContext
let base: string
let browser: Browser

t.before(async () => {
  ({ context, base, browser } = await startBrowserSuite(t))
})



async function pressEnterAndWait (page: Page, path: string): Promise<void> {
  await Promise.all([page.waitForURL(url => new URL(url).pathname === path), page.keyboard.press('Enter')])
}

const journeys = [
  { name: 'without JavaScript, in English', javaScript: false, locale: 'en-GB', inviter: '+79123456701', person: '+79123456702', typed: '+7 912 345-67-02', shown: '+7 912 345 67 02', texts: { activated: 'Invite code activated.', signedOut: 'You have signed out.' } },
  { name: 'with JavaScript, in Russian', javaScript: true, locale: 'ru-RU', inviter: '+79123456703', person: '+79123456704', typed: '8 (912) 345-67-04', shown: '+7 912 345 67 04', texts: { activated: 'Код приглашения активирован.', signedOut: 'Вы вышли.' } }
]

for (const journey of journeys) {
  t.test(`the whole journey by keyboard, ${journey.name}`, async t => {
    const inviter = new WebClient(context.app)
    await inviter.signIn(context, journey.inviter)
    const inviterCode = await inviter.ownInviteCode()

    const page = await (await newDesktopContext(t, browser, { javaScript: journey.javaScript, locale: journey.locale })).newPage()
    const problems = watchProblems(page)
    await page.goto(base + '/')
    t.equal(new URL(page.url()).pathname, '/login', '/ sends a visitor to /login')

    await tabTo(page, '#phone', 25)
    await page.keyboard.type(journey.typed)
    await pressEnterAndWait(page, '/login/code')
    t.match(await page.textContent('main'), journey.shown, 'the code page names the number, international format')

    await tabTo(page, '#auth_code', 25)
    await page.keyboard.type(context.sms.lastCode(journey.person))
    await pressEnterAndWait(page, '/profile')
    t.match(await page.textContent('main'), journey.shown)

    const copy = page.locator('button[data-copy]')
    t.equal(await copy.isVisible(), journey.javaScript, 'the copy button appears only with JavaScript')

    await tabTo(page, '#invite_code', 25)
    await page.keyboard.type(inviterCode.toLowerCase())
    await pressEnterAndWait(page, '/profile')
    t.match(await page.textContent('.notice'), journey.texts.activated)
    t.equal(await page.textContent('dd code.code >> nth=1'), inviterCode, 'the activated code is shown')
    t.match((await inviter.get('/profile')).body, `<li>${journey.shown}</li>`, "the inviter's list has the new person")

    await tabTo(page, 'form[action="/logout"] button', 25)
    await pressEnterAndWait(page, '/login')
    t.match(await page.textContent('.notice'), journey.texts.signedOut)
    await page.goto(base + '/profile')
    t.equal(new URL(page.url()).pathname + new URL(page.url()).search, '/login?next=%2Fprofile', 'signed out for real')
    t.same(problems, [], 'no CSP refusal or script error')
  })
}

t.test('axe finds no serious or critical violation on any page in either language; screenshots', async t => {
  mkdirSync(screensDir, { recursive: true })
  const inviter = new WebClient(context.app)
  await inviter.signIn(context, '+79123456705')
  const inviterCode = await inviter.ownInviteCode()

  for (const locale of ['en-GB', 'ru-RU']) {
    const english = locale === 'en-GB'
    // axe is injected as a script, which the CSP rightly refuses: this context alone bypasses it.
    const page = await (await newDesktopContext(t, browser, { javaScript: true, locale, bypassCSP: true })).newPage()
    const phone = english ? '+79123456706' : '+79123456707'

    async function check (name: string): Promise<void> {
      t.same(await seriousAxeViolations(page), [], `${name} (${locale})`)
      await page.setViewportSize({ width: 320, height: 640 })
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
      t.equal(overflow, 0, `${name} (${locale}) fits a 320 px screen without sideways scrolling`)
      await page.setViewportSize({ width: 1280, height: 900 })
      if (!english) return
      for (const width of [390, 1280]) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 900 })
        await page.screenshot({ path: join(screensDir, `${name}-${width}.png`), fullPage: true })
      }
      await page.setViewportSize({ width: 1280, height: 900 })
    }

    await page.goto(base + '/login')
    await check('login')
    await page.fill('#phone', '12')
    await Promise.all([page.waitForURL('**/login'), page.click('button[type=submit]')])
    await check('login-error')
    await page.fill('#phone', phone)
    await Promise.all([page.waitForURL('**/login/code'), page.click('form[action="/login"] button')])
    await check('code')
    await page.fill('#auth_code', context.sms.lastCode(phone))
    await Promise.all([page.waitForURL('**/profile'), page.click('form[action="/login/code"] button')])
    await check('profile-new')
    await page.fill('#invite_code', inviterCode)
    await Promise.all([page.waitForURL('**/profile'), page.click('form[action="/profile/invite"] button')])
    const ownCode = await page.textContent('#own-code') ?? ''
    for (const joiner of english ? ['+79123456708', '+79123456709'] : ['+79123456710']) {
      const client = new WebClient(context.app)
      await client.signIn(context, joiner)
      await client.submit('/profile', '/profile/invite', { invite_code: ownCode })
    }
    await page.reload()
    await check('profile')
    await page.goto(base + '/no/such/page')
    await check('not-found')
    // A form without its CSRF token is none of ours, so the post gets the 403 page (a stale
    // token goes back to the form: see the two-tab test).
    await page.goto(base + '/profile')
    await page.evaluate(() => { document.querySelector('form[action="/logout"] input[name=_csrf]')?.remove() })
    const [refused] = await Promise.all([page.waitForNavigation(), page.click('form[action="/logout"] button')])
    t.equal(refused?.status(), 403)
    await check('forbidden')
  }
})

t.test('two tabs: signed out in one, Sign out and a stale form in the other lead on, not to a 403', async t => {
  const browserContext = await newDesktopContext(t, browser, { javaScript: false, locale: 'en-GB' })
  const tab1 = await browserContext.newPage()
  const phone = '+79123456711'
  await tab1.goto(base + '/login')
  await tab1.fill('#phone', phone)
  await Promise.all([tab1.waitForURL('**/login/code'), tab1.click('form[action="/login"] button')])
  await tab1.fill('#auth_code', context.sms.lastCode(phone))
  await Promise.all([tab1.waitForURL('**/profile'), tab1.click('form[action="/login/code"] button')])
  const tab2 = await browserContext.newPage()
  await tab2.goto(base + '/profile')

  await Promise.all([tab1.waitForURL('**/login'), tab1.click('form[action="/logout"] button')])
  const [out] = await Promise.all([tab2.waitForNavigation(), tab2.click('form[action="/logout"] button')])
  t.equal(out?.status(), 200, 'no 403')
  t.equal(new URL(tab2.url()).pathname, '/login')
  t.match(await tab2.textContent('.notice'), 'You have signed out.')

  // Tab 1 signs in again: the sign-in form tab 2 shows now is stale.
  await tab1.goto(base + '/login')
  context.clock.advance(61_000)
  await tab1.fill('#phone', phone)
  await Promise.all([tab1.waitForURL('**/login/code'), tab1.click('form[action="/login"] button')])
  await tab1.fill('#auth_code', context.sms.lastCode(phone))
  await Promise.all([tab1.waitForURL('**/profile'), tab1.click('form[action="/login/code"] button')])
  await tab2.fill('#phone', phone)
  await Promise.all([tab2.waitForNavigation(), tab2.click('form[action="/login"] button')])
  t.equal(new URL(tab2.url()).pathname, '/profile', 'already signed in: the profile')
})

/** On how many lines `text`, found inside `selector`, is laid out (0 when it is not there). */
async function linesOf (page: Page, selector: string, text: string): Promise<number> {
  return await page.evaluate(([selector, text]) => {
    const root = document.querySelector(selector)
    if (root === null) return 0
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT)
    const nodes: Array<[Text, number]> = []
    let all = ''
    while (walker.nextNode() !== null) {
      const node = walker.currentNode as Text
      nodes.push([node, all.length])
      all += node.data
    }
    const start = all.indexOf(text)
    if (start < 0) return 0
    const range = document.createRange()
    const place = (offset: number, set: (node: Text, at: number) => void) => {
      const found = nodes.find(([node, at]) => offset >= at && offset <= at + node.length)
      if (found !== undefined) set(found[0], offset - found[1])
    }
    place(start, (node, at) => { range.setStart(node, at) })
    place(start + text.length, (node, at) => { range.setEnd(node, at) })
    return new Set(Array.from(range.getClientRects()).filter(rect => rect.width > 0).map(rect => Math.round(rect.bottom))).size
  }, [selector, text] as const)
}

t.test('at 320 px a phone number stays on one line, in the hints, the errors and on the code page', async t => {
  for (const [locale, example, phone, shown, error] of [
    ['en-GB', '+44 7400 123456', '+15550100001', '+1 555 010 0001', '+44 7400 123456'],
    ['ru-RU', '+7 912 345-67-89', '+79123456712', '+7 912 345 67 12', '+7 912 345-67-89']
  ] as const) {
    const page = await (await newDesktopContext(t, browser, { javaScript: false, locale })).newPage()
    await page.setViewportSize({ width: 320, height: 640 })
    const fits = async (what: string) => {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
      t.equal(overflow, 0, `${locale}, ${what}: no sideways scrolling`)
    }
    await page.goto(base + '/login')
    t.equal(await linesOf(page, '#phone-hint', example), 1, `${locale}: the example in the hint`)
    await fits('the sign-in page')
    await page.fill('#phone', '12')
    await Promise.all([page.waitForURL('**/login'), page.click('form[action="/login"] button')])
    t.equal(await linesOf(page, '#phone-error', error), 1, `${locale}: the example in the error`)
    await fits('the refused sign-in')
    await page.fill('#phone', phone)
    await Promise.all([page.waitForURL('**/login/code'), page.click('form[action="/login"] button')])
    t.equal(await linesOf(page, '.lead', shown), 1, `${locale}: the number the code went to`)
    await fits('the code page')
  }
})

/** WCAG's contrast ratio of two sRGB colours given as "rgb(r, g, b)". */
function contrast (a: string, b: string): number {
  const luminance = (color: string): number => {
    const [r, g, b] = (color.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map(Number).map(value => {
      const c = value / 255
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
    }) as [number, number, number]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
  }
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number]
  return (light + 0.05) / (dark + 0.05)
}

t.test('the keyboard focus ring has at least 3:1 contrast on the card and on the page background (WCAG 1.4.11)', async t => {
  const page = await (await newDesktopContext(t, browser, { javaScript: true, locale: 'en-GB' })).newPage()
  await page.goto(base + '/login')
  const backgrounds = await page.evaluate(() => ({
    page: getComputedStyle(document.documentElement).backgroundColor,
    card: getComputedStyle(document.querySelector('.card') as Element).backgroundColor
  }))
  const seen = new Set<string>()
  for (let presses = 0; presses < 8; presses++) {
    await page.keyboard.press('Tab')
    const focus = await page.evaluate(() => {
      const element = document.activeElement as Element
      const style = getComputedStyle(element)
      return { what: element.outerHTML.slice(0, 40), style: style.outlineStyle, width: parseFloat(style.outlineWidth), color: style.outlineColor }
    })
    if (seen.has(focus.what) || focus.what.startsWith('<body')) break
    seen.add(focus.what)
    t.not(focus.style, 'none', `${focus.what}: an outline`)
    t.ok(focus.width >= 2, `${focus.what}: at least 2 px wide`)
    for (const [where, background] of Object.entries(backgrounds)) {
      const ratio = contrast(focus.color, background)
      t.ok(ratio >= 3, `${focus.what}: ${focus.color} on the ${where} (${background}) is ${ratio.toFixed(2)}:1`)
    }
  }
  t.ok(seen.size >= 4, 'the brand link, the language link, the phone field and the button were focused')
})

t.test('/redoc/ still renders under its own CSP', async t => {
  const page = await (await newDesktopContext(t, browser, { javaScript: true, locale: 'en-GB' })).newPage()
  const problems = watchProblems(page)
  await page.goto(base + '/redoc/')
  await page.waitForSelector('h1:has-text("phonepass API")', { timeout: 30_000 })
  t.ok(await page.isVisible('text=/api/users/register/'), 'the operations are listed')
  // The bundle's "powered by" logo points at cdn.redoc.ly: refusing it is the point of the CSP.
  const refusals = problems.filter(p => /Content Security Policy|Refused/i.test(p) && !p.includes("image 'https://cdn.redoc.ly/"))
  t.same(refusals, [], 'no script, style or worker refused')
})
