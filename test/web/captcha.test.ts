import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { prefixAttack, pumpPrefix } from '../helpers/pumping.js'
import { WebClient } from './web-client.js'

// FRAUD_CHALLENGE=turnstile|hcaptcha: the challenge is the provider's widget and the server
// checks its token with siteverify. Here siteverify is a local server speaking the real wire
// format (a form-encoded POST of secret, response, remoteip; JSON {success, challenge_ts,
// hostname, error-codes}), and it accepts a good token any number of times, so the single use
// seen here is phonepass's own.

interface Siteverify { url: string, posts: Array<{ contentType: string | undefined, form: URLSearchParams }>, hang: boolean }

async function startSiteverify (t: { teardown: (fn: () => unknown) => void }): Promise<Siteverify> {
  const state: Siteverify = { url: '', posts: [], hang: false }
  const read = async (request: IncomingMessage) => { let body = ''; for await (const chunk of request) body += String(chunk); return body }
  const server: Server = createServer((request, response) => {
    void read(request).then(body => {
      const form = new URLSearchParams(body)
      state.posts.push({ contentType: request.headers['content-type'], form })
      if (state.hang) return
      const good = form.get('secret') === 'test-secret' && form.get('response') === 'good-token'
      const answer = good
        ? { success: true, challenge_ts: new Date().toISOString(), hostname: 'phonepass.test', 'error-codes': [] }
        : { success: false, 'error-codes': [form.get('secret') === 'test-secret' ? 'invalid-input-response' : 'invalid-input-secret'] }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/siteverify`
  t.teardown(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return state
}

for (const provider of ['turnstile', 'hcaptcha'] as const) {
  t.test(`FRAUD_CHALLENGE=${provider}: the widget on the page, its host in the CSP, the token checked by siteverify and spent once`, async t => {
    const siteverify = await startSiteverify(t)
    const context = await buildTestApp(t, {
      FRAUD_GUARD: 'enforce', SMS_HOURLY_CAP: '200', FRAUD_CHALLENGE: provider, CAPTCHA_SITE_KEY: 'site-key-1', CAPTCHA_SECRET: 'test-secret', CAPTCHA_VERIFY_URL: siteverify.url, CAPTCHA_TIMEOUT_MS: '500'
    })
    await pumpPrefix(context)
    const person = prefixAttack[480] as string

    const api = await context.app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: person } })
    t.equal(api.statusCode, 403)
    t.same(api.json().challenge, { provider, site_key: 'site-key-1' }, 'the API says which provider and site key')

    const client = new WebClient(context.app)
    const refused = await client.submit('/login', '/login', { phone: person })
    t.equal(refused.statusCode, 403)
    const host = provider === 'turnstile' ? 'https://challenges.cloudflare.com' : 'https://*.hcaptcha.com'
    const widget = provider === 'turnstile' ? '<div class="cf-turnstile" data-sitekey="site-key-1"' : '<div class="h-captcha" data-sitekey="site-key-1"'
    t.match(refused.body, widget, 'the provider\'s widget')
    t.match(refused.body, provider === 'turnstile' ? '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" defer></script>' : '<script src="https://js.hcaptcha.com/1/api.js?hl=en" defer></script>')
    t.match(refused.body, '<input type="hidden" name="challenge" value="" data-provider=')
    const csp = String(refused.headers['content-security-policy'])
    t.ok(csp.split(';').some(directive => directive.startsWith("script-src 'self' ") && directive.includes(host)), 'its script host in the CSP, in this mode')
    t.match(csp, `frame-src ${provider === 'turnstile' ? host : 'https://hcaptcha.com'}`)
    t.notMatch(csp, 'unsafe-inline')

    const bad = await client.submit('/login', '/login', { phone: person, challenge: 'bad-token' })
    t.equal(bad.statusCode, 403)
    t.match(bad.body, 'The automatic check did not pass')
    const sent = await client.submit('/login', '/login', { phone: person, challenge: 'good-token' })
    t.equal(sent.statusCode, 303, 'a good token sends the code')
    t.equal(context.sms.messages.at(-1)?.to, person)
    const last = siteverify.posts.at(-1)
    t.equal(last?.contentType, 'application/x-www-form-urlencoded;charset=UTF-8', 'form-encoded')
    t.same(Object.fromEntries(last?.form ?? []), { secret: 'test-secret', response: 'good-token', remoteip: '127.0.0.1' }, 'secret, response, remoteip')

    const again = await new WebClient(context.app).submit('/login', '/login', { phone: prefixAttack[481] as string, challenge: 'good-token' })
    t.equal(again.statusCode, 403, 'the token is spent here too, whatever the provider says')
    t.match(again.body, 'The automatic check did not pass')

    siteverify.hang = true
    const started = Date.now()
    const late = await new WebClient(context.app).submit('/login', '/login', { phone: prefixAttack[482] as string, challenge: 'other-token' })
    t.equal(late.statusCode, 403, 'a siteverify that does not answer: the check fails, after the timeout')
    t.ok(Date.now() - started < 5000, 'within about CAPTCHA_TIMEOUT_MS')
  })
}

t.test('a provider needs its keys; ALTCHA, the default, keeps the CSP to \'self\'', async t => {
  await t.rejects(buildTestApp(t, { FRAUD_CHALLENGE: 'turnstile' }), /CAPTCHA_SITE_KEY and CAPTCHA_SECRET are required when FRAUD_CHALLENGE=turnstile/)
  const context = await buildTestApp(t, { FRAUD_CHALLENGE: 'hcaptcha', CAPTCHA_SITE_KEY: 'k', CAPTCHA_SECRET: 's' })
  t.equal(context.config.fraudGuard.captcha?.verifyUrl, 'https://api.hcaptcha.com/siteverify', 'the real siteverify by default')
  const altcha = await buildTestApp(t)
  t.equal(altcha.config.fraudGuard.captcha, undefined)
  t.notMatch(String((await altcha.app.inject({ url: '/login' })).headers['content-security-policy']), /hcaptcha|cloudflare|frame-src/)
})
