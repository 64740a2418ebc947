import t from 'tap'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { prefixAttack, pumpPrefix, solve, type AltchaChallenge } from '../helpers/pumping.js'
import { WebClient } from './web-client.js'

// The pages' side of the fraud guard's step-up check (issue 23): a form whose post sends a code
// to a suspect destination is shown again with the challenge for /assets/challenge.js, and a
// solved challenge sent with the form sends the code. Solved here by altcha-lib, as the
// browser test (fraud-challenge-browser.test.ts) has the page's own script do it.

const person = prefixAttack[480] as string
const unescape = (html: string) => html.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')

/** The challenge embedded in the page's form (`form` names its action), or undefined. */
function embeddedChallenge (html: string, action: string): AltchaChallenge | undefined {
  const form = new RegExp(`<form method="post" action="${action}"[^>]*>([\\s\\S]*?)</form>`).exec(html)?.[1] ?? ''
  const attribute = /<input type="hidden" name="challenge" value="" data-challenge="([^"]+)">/.exec(form)?.[1]
  return attribute === undefined ? undefined : JSON.parse(unescape(attribute)) as AltchaChallenge
}

async function suspectPrefix (t: Tap): Promise<TestContext> {
  const context = await buildTestApp(t, { FRAUD_GUARD: 'enforce', SMS_HOURLY_CAP: '200' })
  await pumpPrefix(context)
  return context
}
type Tap = Parameters<typeof buildTestApp>[0]

t.test('POST /login to a suspect prefix: the form again (403) with the challenge; solved, the code is sent', async t => {
  const context = await suspectPrefix(t)
  const client = new WebClient(context.app)
  const sent = context.sms.messages.length
  const refused = await client.submit('/login', '/login', { phone: person })
  t.equal(refused.statusCode, 403)
  t.equal(refused.headers['cache-control'], 'no-store')
  t.match(refused.body, 'a quick automatic check comes first', 'the message says why')
  t.match(refused.body, `value="${person}"`, 'the phone is kept')
  const challenge = embeddedChallenge(refused.body, '/login')
  t.match(challenge, { algorithm: 'SHA-256', maxnumber: 50_000 }, 'the challenge is in the form, for the script')
  t.match(refused.body, '<script type="module" src="/assets/challenge.js"></script>')
  t.match(refused.body, /<p class="challenge-status" role="status"[^>]*data-done="Check done. Press “Send code”."/, 'a status line for the script to speak through')
  t.match(refused.body, /<noscript><p class="error">Before a code is sent to this number, a quick automatic check is needed, and it needs JavaScript/, 'without JavaScript the page says why nothing happens')
  t.notOk(/<script(?![^>]*\bsrc=)[^>]*>/.test(refused.body.replace(/<script type="application\/json"/g, '')), 'no inline script')
  t.equal(context.sms.messages.length, sent, 'no SMS yet')

  const wrong = await client.submit('/login', '/login', { phone: person, challenge: Buffer.from('{"number":1}').toString('base64') })
  t.equal(wrong.statusCode, 403)
  t.match(wrong.body, 'The automatic check did not pass or has expired')
  const fresh = embeddedChallenge(wrong.body, '/login')
  t.ok(fresh !== undefined && fresh.signature !== challenge?.signature, 'challenge_invalid brings a new challenge')

  const solution = await solve(fresh as AltchaChallenge)
  const passed = await client.submit('/login', '/login', { phone: person, challenge: solution })
  t.equal(passed.statusCode, 303, 'a solved challenge sends the code')
  t.equal(passed.headers.location, '/login/code')
  t.equal(context.sms.messages.at(-1)?.to, person, 'the SMS sink has the code')
  const other = new WebClient(context.app)
  const reused = await other.submit('/login', '/login', { phone: person, challenge: solution })
  t.equal(reused.statusCode, 403, 'a solution is spent once')
  t.match(reused.body, 'The automatic check did not pass')
  const signedIn = await client.submit('/login/code', '/login/code', { auth_code: context.sms.lastCode(person) })
  t.equal(signedIn.headers.location, '/profile', 'and the person signs in')
})

t.test('"Send a new code" to a suspect prefix: the challenge in the resend form; solved, a new code', async t => {
  const context = await suspectPrefix(t)
  const client = new WebClient(context.app)
  const phone = prefixAttack[481] as string
  const first = embeddedChallenge((await client.submit('/login', '/login', { phone })).body, '/login') as AltchaChallenge
  t.equal((await client.submit('/login', '/login', { phone, challenge: await solve(first) })).statusCode, 303)
  const firstCode = context.sms.lastCode(phone)
  context.clock.advance(context.config.otp.resendSeconds * 1000 + 1000)

  const refused = await client.submit('/login/code', '/login/resend')
  t.equal(refused.statusCode, 403)
  t.match(refused.body, 'a quick automatic check comes first')
  const challenge = embeddedChallenge(refused.body, '/login/resend')
  t.ok(challenge !== undefined, 'the challenge is in the resend form')
  t.equal(embeddedChallenge(refused.body, '/login/code'), undefined, 'not in the code form')
  t.match(refused.body, 'data-done="Check done. Press “Send a new code”."')
  const resent = await client.submit('/login/code', '/login/resend', { challenge: await solve(challenge as AltchaChallenge) })
  t.equal(resent.statusCode, 303)
  t.not(context.sms.lastCode(phone), firstCode, 'a new code went out')
})

t.test('a change of number to a suspect prefix: step two shows the challenge; solved, the code goes to the new number', async t => {
  const context = await suspectPrefix(t)
  const client = new WebClient(context.app)
  const current = '+79123450011'
  await client.signIn(context, current)
  context.clock.advance(context.config.otp.resendSeconds * 1000 + 1000)
  const newPhone = prefixAttack[482] as string
  t.equal((await client.submit('/profile/phone', '/profile/phone', { phone: newPhone })).headers.location, '/profile/phone/current', 'the current number, an account, meets no challenge')
  const code = context.sms.lastCode(current)
  const refused = await client.submit('/profile/phone/current', '/profile/phone/current', { auth_code: code })
  t.equal(refused.statusCode, 403)
  t.match(refused.body, 'a quick automatic check comes first')
  const challenge = embeddedChallenge(refused.body, '/profile/phone/current')
  t.ok(challenge !== undefined, 'the challenge is in the step\'s form')
  const passed = await client.submit('/profile/phone/current', '/profile/phone/current', { auth_code: code, challenge: await solve(challenge as AltchaChallenge) })
  t.equal(passed.statusCode, 303, 'the current number\'s code, given back by the refusal, works with the solved challenge')
  t.equal(passed.headers.location, '/profile/phone/code')
  t.equal(context.sms.messages.at(-1)?.to, newPhone)
})

t.test('the script is served by phonepass as JavaScript; the CSP stays strict', async t => {
  const context = await buildTestApp(t, { FRAUD_GUARD: 'enforce' })
  const client = new WebClient(context.app)
  const script = await client.get('/assets/challenge.js')
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /^(text|application)\/javascript/)
  t.match(script.body, 'crypto.subtle.digest')
  const csp = String((await client.get('/login')).headers['content-security-policy'])
  t.match(csp, "script-src 'self';")
  t.match(csp, "style-src 'self';")
  t.notMatch(csp, 'unsafe-inline')
  t.notMatch(csp, 'http')
  t.notMatch((await client.get('/login')).body, 'data-challenge', 'no challenge on an ordinary page')
})
