import type { FastifyBaseLogger } from 'fastify'

/** A captcha provider an operator may put in place of ALTCHA's proof of work (FRAUD_CHALLENGE). */
export type CaptchaProvider = 'turnstile' | 'hcaptcha'

/** Each provider's real siteverify endpoint (CAPTCHA_VERIFY_URL's default). */
export const captchaVerifyUrls: Record<CaptchaProvider, string> = {
  turnstile: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
  hcaptcha: 'https://api.hcaptcha.com/siteverify'
}

/**
 * What the CSP must allow for the widget, per the providers' own CSP guides: its script and its
 * iframe (Turnstile); hCaptcha also loads styles and calls its API from the page.
 */
export const captchaCspSources: Record<CaptchaProvider, { script: string[], frame: string[], style: string[], connect: string[] }> = {
  turnstile: { script: ['https://challenges.cloudflare.com'], frame: ['https://challenges.cloudflare.com'], style: [], connect: [] },
  hcaptcha: {
    script: ['https://hcaptcha.com', 'https://*.hcaptcha.com'],
    frame: ['https://hcaptcha.com', 'https://*.hcaptcha.com'],
    style: ['https://hcaptcha.com', 'https://*.hcaptcha.com'],
    connect: ['https://hcaptcha.com', 'https://*.hcaptcha.com']
  }
}

export interface CaptchaSettings {
  readonly provider: CaptchaProvider
  readonly secret: string
  readonly verifyUrl: string
  readonly timeoutMs: number
}

/** What siteverify answered (both providers: {success, hostname, challenge_ts, error-codes}). */
export interface CaptchaVerdict {
  success: boolean
  hostname?: string
  errorCodes: string[]
}

/**
 * Asks the provider whether a widget's token is good: a form-encoded POST of secret, response and
 * remoteip to siteverify, with a timeout. A token is good once, on the provider's side; the
 * fraud guard also spends it locally. An answer that is late, not JSON or not a success is a
 * failed check (the guard then asks for a new one): a suspect destination is held, not opened,
 * while the provider is away.
 */
export async function verifyCaptchaToken (settings: CaptchaSettings, token: string, remoteIp: string | undefined, logger: Pick<FastifyBaseLogger, 'warn'>): Promise<CaptchaVerdict> {
  const form = new URLSearchParams({ secret: settings.secret, response: token })
  if (remoteIp !== undefined) form.set('remoteip', remoteIp)
  try {
    const response = await fetch(settings.verifyUrl, {
      method: 'POST',
      body: form,
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(settings.timeoutMs)
    })
    const body = await response.json() as { success?: unknown, hostname?: unknown, 'error-codes'?: unknown }
    const errorCodes = Array.isArray(body['error-codes']) ? body['error-codes'].filter((code): code is string => typeof code === 'string') : []
    const verdict: CaptchaVerdict = { success: response.ok && body.success === true, errorCodes }
    if (typeof body.hostname === 'string') verdict.hostname = body.hostname
    if (errorCodes.some(code => /secret|sitekey/.test(code))) logger.warn({ provider: settings.provider, errorCodes }, 'captcha provider refused our keys: check CAPTCHA_SECRET and CAPTCHA_SITE_KEY')
    return verdict
  } catch (error) {
    logger.warn({ err: error, provider: settings.provider }, 'captcha verification failed (timeout or bad answer): the check counts as not passed')
    return { success: false, errorCodes: ['phonepass-unreachable'] }
  }
}
