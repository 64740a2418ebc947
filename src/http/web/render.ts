import type { FastifyReply, FastifyRequest } from 'fastify'
import nunjucks from 'nunjucks'
import { locales, pickLocale, translate, type Locale, type MessageKey, type MessageParams } from '../../i18n/catalogue.js'
import type { ErrorCode, ErrorDetails } from '../../domain/errors.js'

export const languageCookie = 'phonepass_lang'

const languageNames: Record<Locale, string> = { en: 'English', ru: 'Русский' }

/** The remembered choice from the switch first, then Accept-Language. */
export function localeOf (request: FastifyRequest): Locale {
  const chosen = request.cookies[languageCookie]
  if (chosen !== undefined && (locales as readonly string[]).includes(chosen)) return chosen as Locale
  return pickLocale(request.headers['accept-language'])
}

// nunjucks' own escaping, the one autoescape uses (its types leave `lib.escape` out).
const escapeHtml = (nunjucks as unknown as { lib: { escape: (text: string) => string } }).lib.escape

/**
 * The `phones` filter: the text escaped, each phone number in it ("+7 912 345-67-89") in a
 * nowrap span, so a narrow screen never breaks a number across two lines.
 */
export function keepPhonesWhole (text: unknown): nunjucks.runtime.SafeString {
  const escaped = escapeHtml(String(text ?? ''))
  return new nunjucks.runtime.SafeString(escaped.replace(/\+\d[\d \u00a0-]*\d/g, number => `<span class="phone-number">${number}</span>`))
}

/** What a form page shows after a refused post: messages beside fields, the values typed. */
export interface FormState {
  status: number
  values: Record<string, string>
  fieldErrors: Record<string, string[]>
  /** A message that belongs to no field of the form. */
  formError?: string
  attemptsLeft?: number
  /** The fraud guard's challenge, for the page's script to solve before the form is sent again. */
  challenge?: NonNullable<ErrorDetails['challenge']>
}

export const freshForm: FormState = { status: 200, values: {}, fieldErrors: {} }

export function seeOther (reply: FastifyReply, url: string): FastifyReply {
  // 303: the browser follows a form post with a GET, so reload never posts twice.
  return reply.redirect(url, 303)
}

/** The one-shot message a post left for the next page (post-redirect-get), in the page's language. */
export function takeFlash (request: FastifyRequest): string | undefined {
  const flash = request.session.get('flash')
  if (flash === undefined) return undefined
  request.session.set('flash', undefined)
  return translate(localeOf(request), flash.key as MessageKey, { count: flash.count ?? 0 })
}

export async function renderPage (
  request: FastifyRequest, reply: FastifyReply, template: string, data: Record<string, unknown>, status = 200
): Promise<FastifyReply> {
  const locale = localeOf(request)
  // After a refused post the URL is the form's action; "/" leads back to the right screen.
  const here = request.method === 'GET' ? request.url : '/'
  const html = await reply.viewAsync(template, {
    ...data,
    locale,
    t: (key: MessageKey | ErrorCode, params?: MessageParams) => translate(locale, key, params),
    csrfToken: reply.generateCsrf(),
    signedIn: request.session.get('sid') !== undefined,
    languages: locales.map(code => ({
      code,
      name: languageNames[code],
      current: code === locale,
      href: `/language/${code}?next=${encodeURIComponent(here)}`
    }))
  })
  // Pages carry personal data: never stored by a shared cache or the back-forward cache.
  return await reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html)
}
