import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { pickLocale, translate } from '../i18n/catalogue.js'

const htmlEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, ch => htmlEscapes[ch] ?? ch)
}

/**
 * Fastify's `frameworkErrors`: a path the router cannot decode (a broken %-escape such as
 * /%ED%A0%80) or with a parameter over its length limit is refused before any route, so
 * neither face's error handler sees it, and fastify's own answer has no detail. There is
 * nothing at such an address: the API answers its JSON 404, a browser a small 404 page.
 */
export function answerUnroutable (_error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const locale = pickLocale(request.headers['accept-language'])
  reply.code(404).header('cache-control', 'no-store')
  if (request.url.startsWith('/api/')) {
    void reply.type('application/json').send({ detail: translate(locale, 'not_found'), code: 'not_found' })
    return
  }
  const title = escapeHtml(translate(locale, 'page_not_found_title'))
  void reply.type('text/html; charset=utf-8').send(`<!doctype html>
<html lang="${locale}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} · phonepass</title><link rel="stylesheet" href="/assets/site.css"></head>
<body><main id="main" class="card"><h1>${title}</h1>
<p class="lead">${escapeHtml(translate(locale, 'page_not_found_text'))}</p>
<p><a href="/">${escapeHtml(translate(locale, 'page_go_home'))}</a></p></main></body>
</html>
`)
}
