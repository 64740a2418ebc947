import t from 'tap'
import type { Browser } from 'playwright-core'
import type { TestContext } from '../helpers/app.js'
import { channelEnv, startTwilioStandIn, startWhatsAppStandIn } from '../helpers/provider-stand-ins.js'
import { newDesktopContext, seriousAxeViolations, startBrowserSuite, tabTo, watchProblems } from './chromium.js'

// Issue 25 in Chromium: the code page says which channel brought the code and offers the
// number's others ("Call me instead"), by keyboard, axe clean, in English and Russian; the
// choice is a plain form (the Russian journey runs without JavaScript). The WebOTP module
// script loads under the strict CSP without a complaint.

let context: TestContext
let base: string
let browser: Browser
const twilio = await startTwilioStandIn()
const whatsapp = await startWhatsAppStandIn()
t.teardown(async () => { await twilio.close(); await whatsapp.close() })

t.before(async () => {
  ({ context, base, browser } = await startBrowserSuite(t, channelEnv(twilio, whatsapp)))
})

const journeys = [
  { locale: 'en-GB', phone: '+79120000301', javaScript: true, byWhatsApp: 'We sent the code by WhatsApp.', callMe: 'Call me instead', calling: 'We are calling you' },
  { locale: 'ru-RU', phone: '+79120000302', javaScript: false, byWhatsApp: 'Мы отправили код в WhatsApp.', callMe: 'Позвонить мне', calling: 'Сейчас мы позвоним' }
]

for (const journey of journeys) {
  t.test(`the code page's channel choice by keyboard (${journey.locale}${journey.javaScript ? '' : ', no JavaScript'})`, async t => {
    const page = await (await newDesktopContext(t, browser, { locale: journey.locale, javaScript: journey.javaScript })).newPage()
    const problems = watchProblems(page)
    await page.goto(base + '/login')
    await tabTo(page, '#phone', 25)
    await page.keyboard.type(journey.phone)
    await Promise.all([page.waitForURL(url => new URL(url).pathname === '/login/code'), page.keyboard.press('Enter')])
    t.match(await page.textContent('.lead'), journey.byWhatsApp, 'the page says how the code came')
    const button = 'form:has(input[name="channel"][value="voice"]) button'
    t.equal(await page.textContent(button), journey.callMe)

    // WhatsApp reports the message undelivered: the call may be asked for at once.
    const sent = whatsapp.requests.find(request => `+${request.payload.to}` === journey.phone)
    if (sent === undefined) throw new Error('nothing went by WhatsApp')
    const receipt = whatsapp.statusWebhook(sent, 'failed')
    t.equal((await context.app.inject({ method: 'POST', url: receipt.url, headers: receipt.headers, payload: receipt.payload })).statusCode, 200)

    await tabTo(page, button, 30)
    // The page is at /login/code already: wait for the navigation the post makes (303 to it again).
    const [answer] = await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')])
    t.equal(answer?.url(), base + '/login/code')
    t.match(await page.textContent('.lead'), journey.calling, 'the page says a call is coming')
    t.notOk(await page.$(button), 'the channel just used is not offered again')
    const code = twilio.lastCode(journey.phone)
    t.equal(twilio.requests.at(-1)?.resource, 'Calls')
    await tabTo(page, '#auth_code', 25)
    await page.keyboard.type(code)
    await Promise.all([page.waitForURL(url => new URL(url).pathname === '/profile'), page.keyboard.press('Enter')])
    t.same(problems, [], 'no CSP refusal or script error (the WebOTP module script included)')
  })
}

t.test('the code page with its channel choice is axe clean in both languages', async t => {
  for (const [i, locale] of ['en-GB', 'ru-RU'].entries()) {
    // axe is injected as a script, which the CSP rightly refuses: this context alone bypasses it.
    const page = await (await newDesktopContext(t, browser, { locale, bypassCSP: true })).newPage()
    await page.goto(base + '/login')
    await page.fill('#phone', `+7912000031${i}`)
    await Promise.all([page.waitForURL(url => new URL(url).pathname === '/login/code'), page.press('#phone', 'Enter')])
    t.equal(await page.locator('form:has(input[name="channel"]) button').count(), 2, 'SMS and a call offered besides WhatsApp')
    t.same(await seriousAxeViolations(page), [], `axe: ${locale}`)
  }
})
