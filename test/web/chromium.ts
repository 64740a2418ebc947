/// <reference lib="dom" />
// Functions passed to page.evaluate run in the browser, hence the DOM types.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { buildTestApp, type TestContext } from '../helpers/app.js'

// Real Chromium from the system (Debian's `chromium`), never a downloaded one.
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run']
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export async function launchChromium (): Promise<Browser> {
  return await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs })
}

/**
 * The serious and critical axe violations (WCAG 2.1 A and AA, best practice) of the page as it
 * stands. axe is injected as a script: the page's context must bypass the CSP for it.
 */
export async function seriousAxeViolations (page: Page): Promise<string[]> {
  await page.addScriptTag({ content: axeSource })
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (context: Document, options: object) => Promise<{ violations: Array<{ id: string, impact: string, nodes: unknown[] }> }> } }).axe
    return await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })
  })
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => `${v.id} (${v.impact}, ${v.nodes.length})`)
}

/**
 * Presses Tab until `selector` has the focus, as a keyboard user would; fails if it never does
 * within `presses` or if the focused element shows no outline. The account pages reach every
 * control within 25; the admin pages, with their tables, need more.
 */
export async function tabTo (page: Page, selector: string, presses = 40): Promise<void> {
  for (let pressed = 0; pressed < presses; pressed++) {
    await page.keyboard.press('Tab')
    if (await page.evaluate(s => document.activeElement?.matches(s) ?? false, selector)) {
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle)
      if (outline === 'none') throw new Error(`${selector} has the focus but no visible outline`)
      return
    }
  }
  throw new Error(`Tab never reached ${selector} on ${page.url()}`)
}

interface Tap {
  teardown: (fn: () => unknown) => void
}

/**
 * For a file of browser tests: an app on a fresh database listening on a free port, and
 * Chromium, both closed with the file. Every test signs in from 127.0.0.1: more codes an hour
 * than the default budget of one address. `env` adds to the app's configuration.
 */
export async function startBrowserSuite (t: Tap, env: Record<string, string> = {}): Promise<{ context: TestContext, base: string, browser: Browser }> {
  const context = await buildTestApp(t, { LIMIT_CODES_PER_IP_HOUR: '100', ...env })
  await context.app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(context.app.server.address() as AddressInfo).port}`
  const browser = await launchChromium()
  t.teardown(async () => { await browser.close() })
  return { context, base, browser }
}

/** A browser context of 1280 × 900 with the options a page test varies, closed with the test. */
export async function newDesktopContext (t: Tap, browser: Browser, options: { javaScript?: boolean, locale: string, bypassCSP?: boolean }): Promise<BrowserContext> {
  const browserContext = await browser.newContext({
    javaScriptEnabled: options.javaScript ?? true,
    locale: options.locale,
    bypassCSP: options.bypassCSP ?? false,
    viewport: { width: 1280, height: 900 }
  })
  t.teardown(async () => { await browserContext.close() })
  return browserContext
}

/** Collects what the browser complains about (CSP refusals, script errors, failed loads), but what `expected` says is expected. */
export function watchProblems (page: Page, expected: (text: string) => boolean = () => false): string[] {
  const problems: string[] = []
  page.on('console', message => { if (message.type() === 'error' && !expected(message.text())) problems.push(message.text()) })
  page.on('pageerror', error => { problems.push(error.message) })
  return problems
}
