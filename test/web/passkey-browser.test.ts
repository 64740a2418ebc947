import t from 'tap'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import type { TestContext } from '../helpers/app.js'
import { seriousAxeViolations, startBrowserSuite, watchProblems } from './chromium.js'

// Passkeys on the pages in real Chromium (issue 24), with a virtual authenticator through the
// DevTools protocol: a phone sign-in, a passkey added, signed out, signed in with the passkey
// (the SMS provider gets nothing), and the passkey offered by the phone field's autofill. On
// http://localhost: WebAuthn needs a secure context and a domain for its RP ID.

let context: TestContext
let base: string
let browser: Browser
const adminPhone = '+79123490011'

t.before(async () => {
  let listening: string
  ({ context, base: listening, browser } = await startBrowserSuite(t, { ADMIN_PHONES: adminPhone, ADMIN_PASSKEY: 'required' }))
  base = listening.replace('127.0.0.1', 'localhost')
})

/** A page whose browser has a platform passkey authenticator that verifies its user. */
async function pageWithAuthenticator (browserContext: BrowserContext): Promise<Page> {
  const page = await browserContext.newPage()
  const cdp = await browserContext.newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true }
  })
  return page
}

async function signInByPhone (page: Page, phone: string): Promise<void> {
  await page.goto(base + '/login')
  await page.fill('#phone', phone)
  await Promise.all([page.waitForURL(/\/login\/code$/), page.click('form[action="/login"] button[type=submit]')])
  await page.fill('#auth_code', context.sms.lastCode(phone))
  await Promise.all([page.waitForURL(/\/profile$/), page.click('form[action="/login/code"] button[type=submit]')])
}

async function signOut (page: Page): Promise<void> {
  await Promise.all([page.waitForURL(/\/login$/), page.click('form[action="/logout"] button[type=submit]')])
}

/** Keeps the page from offering passkeys in the phone field's autofill, so the button is what signs in. */
async function withoutAutofill (page: Page): Promise<void> {
  await page.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false
  })
}

t.test('phone sign-in, add a passkey, sign out, sign in with the passkey: no SMS the second time', async t => {
  const browserContext = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 900 } })
  t.teardown(async () => { await browserContext.close() })
  const page = await pageWithAuthenticator(browserContext)
  const problems = watchProblems(page)
  const phone = '+79123490001'
  await signInByPhone(page, phone)
  await page.click('#passkey-add')
  await page.waitForSelector('ul.passkeys li')
  t.match(await page.textContent('main'), 'The passkey is added', 'the profile says so')
  const sent = context.sms.messages.length

  // Autofill: the sign-in page asks for a passkey from the phone field (conditional
  // mediation); the virtual authenticator answers it at once, as a person picking it would.
  await signOut(page)
  await page.waitForURL(/\/profile$/)
  t.match(await page.textContent('main'), '+7 912 349 00 01', 'signed in by autofill, to the same account')

  // The button, with autofill out of the way.
  await withoutAutofill(page)
  await signOut(page)
  t.equal(await page.getAttribute('#phone', 'autocomplete'), 'tel webauthn', 'the phone field offers passkeys')
  await Promise.all([page.waitForURL(/\/profile$/), page.click('#passkey-sign-in')])
  t.match(await page.textContent('main'), '+7 912 349 00 01', 'signed in with the button, to the same account')
  t.equal(context.sms.messages.length, sent, 'the SMS provider received nothing for the passkey sign-ins')
  const methods = await context.app.db.selectFrom('sessions').select('method').orderBy('created_at').execute()
  t.same(methods.map(row => row.method).slice(-3), ['phone', 'passkey', 'passkey'], 'the sessions say how')
  t.same(problems, [], 'no CSP refusal or script error')
})

t.test('without JavaScript the sign-in page is the phone-and-code page, and works', async t => {
  const browserContext = await browser.newContext({ locale: 'en-GB', javaScriptEnabled: false })
  t.teardown(async () => { await browserContext.close() })
  const page = await browserContext.newPage()
  await signInByPhone(page, '+79123490002')
  t.notOk(await page.isVisible('#passkey-add'), 'no button that cannot work')
  t.ok(await page.isVisible('#passkey-no-script'), 'it says why')
  await signOut(page)
  t.notOk(await page.isVisible('#passkey-sign-in'), 'no passkey button')
})

for (const [locale, phone] of [['en-GB', '+79123490003'], ['ru-RU', '+79123490004']] as const) {
  t.test(`axe: the sign-in page and the profile with passkeys, ${locale}`, async t => {
    // axe is injected as a script, which the CSP rightly refuses: this context bypasses it.
    const browserContext = await browser.newContext({ locale, bypassCSP: true, viewport: { width: 1280, height: 900 } })
    t.teardown(async () => { await browserContext.close() })
    const page = await pageWithAuthenticator(browserContext)
    await withoutAutofill(page)
    await page.goto(base + '/login')
    await page.waitForSelector('#passkey-sign-in', { state: 'visible' })
    t.same(await seriousAxeViolations(page), [], 'the sign-in page')
    await signInByPhone(page, phone)
    t.same(await seriousAxeViolations(page), [], 'the profile, no passkey yet')
    await page.click('#passkey-add')
    await page.waitForSelector('ul.passkeys li')
    t.same(await seriousAxeViolations(page), [], 'the profile with a passkey')
    // Rename and remove are plain forms.
    await page.fill('#passkey-name-1', 'Laptop')
    await Promise.all([page.waitForURL(/\/profile/), page.click('ul.passkeys form[action$="/rename"] button')])
    t.match(await page.textContent('ul.passkeys'), 'Laptop')
    await Promise.all([page.waitForURL(/\/profile/), page.click('ul.passkeys form[action$="/remove"] button')])
    t.equal(await page.$('ul.passkeys li'), null, 'removed')
  })
}

t.test('an admin: the right phone code is not enough for /admin; with their passkey it is', async t => {
  const browserContext = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 900 } })
  t.teardown(async () => { await browserContext.close() })
  const page = await pageWithAuthenticator(browserContext)
  await withoutAutofill(page)
  await signInByPhone(page, adminPhone)
  await page.goto(base + '/admin')
  t.match(page.url(), /\/admin\/passkey$/, 'the code alone leads to the passkey step, not the admin pages')
  t.match(await page.textContent('main'), 'no passkey yet', 'an admin without one is asked to add one')
  const refused = await page.evaluate(async () => {
    const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? ''
    const answer = await fetch('/admin/search', { method: 'POST', headers: { 'content-type': 'application/json', 'csrf-token': token }, body: JSON.stringify({ phone: '+79123490001' }) })
    return answer.status
  })
  t.equal(refused, 403, 'nor does a post reach an admin action')
  await Promise.all([page.waitForURL(/\/admin\/passkey$/), page.click('#passkey-add')])
  await page.waitForSelector('#passkey-prove', { state: 'visible' })
  await page.goto(base + '/admin')
  t.match(page.url(), /\/admin\/passkey$/, 'adding one is not proving it')
  await Promise.all([page.waitForURL(/\/admin$/), page.click('#passkey-prove')])
  t.match(await page.textContent('h1'), /Support|Admin/i, 'with the passkey, the admin pages')

  // A SIM swap: someone else's browser, the right code, no passkey of the admin's. They are
  // asked for the passkey, and cannot add one of their own instead.
  const swapped = await browser.newContext({ locale: 'en-GB' })
  t.teardown(async () => { await swapped.close() })
  const thief = await pageWithAuthenticator(swapped)
  await withoutAutofill(thief)
  context.clock.advance(61_000)
  await signInByPhone(thief, adminPhone)
  await thief.goto(base + '/admin')
  t.match(thief.url(), /\/admin\/passkey$/, 'the thief is asked for the passkey')
  const added = await thief.evaluate(async () => {
    const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? ''
    const answer = await fetch('/profile/passkeys/options', { method: 'POST', headers: { 'content-type': 'application/json', 'csrf-token': token }, body: '{}' })
    return { status: answer.status, body: await answer.json() as { code?: string } }
  })
  t.match(added, { status: 403, body: { code: 'passkey_required' } }, 'and cannot add their own passkey')
})
