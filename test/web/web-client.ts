import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { normalizePhone } from '../../src/domain/phone.js'
import type { TestContext } from '../helpers/app.js'

/** A token that no longer matches: its first character changed (never left as it was, which a
 *  fixed replacement would do for one token in 64). */
export function spoiled (token: string): string {
  return (token.startsWith('x') ? 'y' : 'x') + token.slice(1)
}

/** A browser stand-in for app.inject: keeps cookies, reads CSRF tokens from the pages. */
export class WebClient {
  readonly cookies = new Map<string, string>()
  constructor (readonly app: FastifyInstance, readonly headers: Record<string, string> = {}) {}

  cookieHeader (): string {
    return [...this.cookies].map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('; ')
  }

  private keep (res: LightMyRequestResponse): LightMyRequestResponse {
    for (const cookie of res.cookies as Array<{ name: string, value: string, maxAge?: number }>) {
      if (cookie.value === '' || cookie.maxAge === 0) this.cookies.delete(cookie.name)
      else this.cookies.set(cookie.name, cookie.value)
    }
    return res
  }

  async get (url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    return this.keep(await this.app.inject({ method: 'GET', url, headers: { ...this.headers, cookie: this.cookieHeader(), ...headers } }))
  }

  /** A form post as a browser sends it from one of our pages. */
  async post (url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    return this.keep(await this.app.inject({
      method: 'POST',
      url,
      payload: new URLSearchParams(form).toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'same-origin',
        ...this.headers,
        cookie: this.cookieHeader(),
        ...headers
      }
    }))
  }

  async token (url = '/login'): Promise<string> {
    const page = await this.get(url)
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1]
    if (token === undefined) throw new Error(`no CSRF token on ${url} (${page.statusCode})`)
    return token
  }

  /** Fills the form on `page` (its CSRF token included) and posts it to `action`. */
  async submit (page: string, action: string, form: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    return await this.post(action, { _csrf: await this.token(page), ...form })
  }

  /** The invite code shown on this person's profile page. */
  async ownInviteCode (): Promise<string> {
    const code = /id="own-code" class="code">([A-Z0-9]{6})</.exec((await this.get('/profile')).body)?.[1]
    if (code === undefined) throw new Error('no invite code on /profile')
    return code
  }

  async signIn (context: TestContext, phone: string, next?: string): Promise<LightMyRequestResponse> {
    const sent = await this.submit('/login', '/login', next === undefined ? { phone } : { phone, next })
    if (sent.statusCode !== 303) throw new Error(`POST /login answered ${sent.statusCode}`)
    // The code sent to this phone, not the last one sent: other clients may sign in at once.
    const e164 = normalizePhone(phone, { defaultCountry: context.config.phoneDefaultCountry, isTestNumber: number => context.config.testPhoneNumbers.has(number) })
    return await this.submit('/login/code', '/login/code', { auth_code: context.sms.lastCode(e164) })
  }
}
