import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { parsePhoneNumberWithError } from 'libphonenumber-js/max'
import { buildTestApp, type TestContext } from '../helpers/app.js'
import { WebClient } from './web-client.js'

// The fraud guard's support page (issue 23), on both databases: destinations with their figures
// and reasons, each verdict through a confirmation page (post-redirect-get, CSRF, no script),
// audited; a block asks for the fresh proof the other destructive actions ask for; a verdict
// holds from the next send.

const adminPhone = '+79123459001'

let addressCount = 0
const nextAddress = () => { addressCount++; return `198.51.${Math.floor(addressCount / 250) % 250}.${addressCount % 250}` }

const attacked: string[] = []
for (let i = 0; attacked.length < 40; i++) {
  const parsed = parsePhoneNumberWithError(`+44791112${String(i).padStart(4, '0')}`)
  if (parsed.isValid() && parsed.getType() === 'MOBILE') attacked.push(parsed.number)
}

async function build (t: Parameters<typeof buildTestApp>[0], env: Record<string, string> = {}): Promise<TestContext> {
  return await buildTestApp(t, { FRAUD_GUARD: 'enforce', ADMIN_PHONES: adminPhone, LIMIT_CODES_PER_IP_HOUR: '10000', LIMIT_WRONG_CODES_PER_IP_HOUR: '10000', SMS_HOURLY_CAP: '500', ...env })
}

async function register (app: FastifyInstance, phone: string): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone }, remoteAddress: nextAddress() })
}

function text (res: LightMyRequestResponse): string {
  return res.body.replace(/<[^>]+>/g, ' ').replace(/&nbsp;|\s+/g, ' ')
}

/** The href of the link with this text (`&amp;` as a browser reads it). */
function linkTo (res: LightMyRequestResponse, label: string): string {
  const found = [...res.body.matchAll(/<a href="([^"]+)">(.*?)<\/a>/g)].find(([, , inner]) => (inner ?? '').replace(/<[^>]+>/g, '') === label)
  if (found === undefined) throw new Error(`no link "${label}"`)
  return (found[1] ?? '').replace(/&amp;/g, '&')
}

function flash (res: LightMyRequestResponse): string | undefined {
  return /<p class="notice" role="status">([^<]*)<\/p>/.exec(res.body)?.[1]
}

async function rules (context: TestContext) {
  return await context.app.db.selectFrom('fraud_rules').select(['destination', 'verdict', 'reason', 'set_by']).execute()
}

t.test('the page lists suspect destinations; allow, block and clear go through confirmations and hold from the next send', async t => {
  const context = await build(t)
  const { app } = context
  for (const phone of attacked.slice(0, 20)) await register(app, phone)
  const admin = new WebClient(app)
  await admin.signIn(context, adminPhone)

  const home = await admin.get('/admin')
  t.match(home.body, '<a href="/admin/fraud">Fraud guard</a>', 'linked from the admin home')
  const page = await admin.get('/admin/fraud')
  t.equal(page.statusCode, 200)
  t.equal(page.headers['cache-control'], 'no-store')
  t.match(page.body, '<a href="/admin/fraud" aria-current="page">Fraud guard</a>')
  t.match(page.body, '<h1>Fraud guard</h1>')
  t.match(page.body, /<caption id="fraud-destinations-caption"><span>Destinations counted in the last 60 minutes<\/span><\/caption>/)
  t.match(page.body, 'role="region" aria-labelledby="fraud-destinations-caption" tabindex="0"', 'the table scrolls in a focusable, named box')
  for (const header of ['Destination', 'Codes sent', 'Entered', 'Checks passed', 'Usual per window', 'Suspect', 'Verdict', 'Actions']) t.match(page.body, `<th scope="col">${header}</th>`)
  t.match(text(page), '+44791112 number prefix 10 0 0 0 0 of 10 codes sent in the last 60 minutes were entered (0%, below 30%) None', 'the row: figures, the reason, no verdict')
  t.match(text(page), 'GG country 10 0 0 0 No None', 'its country (Guernsey, to libphonenumber): not suspect')
  t.match(text(page), 'No verdicts')

  // Block, from the row's link; signed in just now: no code asked.
  const blockHref = linkTo(page, 'Block +44791112')
  t.equal(blockHref, '/admin/fraud/confirm?action=block&destination=%2B44791112')
  const confirm = await admin.get(blockHref)
  t.equal(confirm.statusCode, 200)
  t.match(confirm.body, '<h1>Block <span class="phone-number">+44791112</span>?</h1>')
  t.match(confirm.body, '<form method="post" action="/admin/fraud/rules" novalidate>')
  t.match(confirm.body, '<input type="hidden" name="destination" value="+44791112">')
  t.match(confirm.body, '<input type="hidden" name="action" value="block">')
  t.match(confirm.body, /<textarea[^>]*name="reason"[^>]*required/, 'a reason is required')
  t.notMatch(confirm.body, 'name="auth_code"')
  t.equal((await admin.get('/admin/fraud/confirm?action=block&destination=%2B44791112')).statusCode, 200, 'a confirmation changes nothing')
  t.same(await rules(context), [])

  const noReason = await admin.submit(blockHref, '/admin/fraud/rules', { destination: '+44791112', action: 'block', reason: '' })
  t.equal(noReason.statusCode, 400)
  t.match(noReason.body, 'aria-invalid="true"')
  t.match(text(noReason), 'Give a reason of 1 to 500 characters.')
  t.same(await rules(context), [], 'nothing set without a reason')
  t.equal((await admin.post('/admin/fraud/rules', { destination: '+44791112', action: 'block', reason: 'pumping' })).statusCode, 403, 'no CSRF token: refused')
  t.same(await rules(context), [])

  const blocked = await admin.submit(blockHref, '/admin/fraud/rules', { destination: '+44791112', action: 'block', reason: 'pumping' })
  t.equal(blocked.statusCode, 303)
  t.equal(blocked.headers.location, '/admin/fraud')
  const afterBlock = await admin.get('/admin/fraud')
  t.equal(flash(afterBlock), 'The destination is blocked.')
  t.match(text(afterBlock), /\+44791112 number prefix 10 .* Blocked Support \+7 912 345 90 01 , Jan 1, 2026, .*: pumping/)
  t.match(afterBlock.body, '<caption id="fraud-rules-caption"><span>Verdicts set by operators, newest first</span></caption>')
  t.same(await rules(context), [{ destination: 'p:+44791112', verdict: 'block', reason: 'pumping', set_by: `phone:${adminPhone}` }])
  t.equal((await register(app, attacked[30] as string)).json().code, 'phone_not_allowed', 'the next new number of the prefix is refused')

  // Allow, then clear: neither asks a code.
  const allowHref = linkTo(afterBlock, 'Allow +44791112')
  t.notMatch((await admin.get(allowHref)).body, 'name="auth_code"')
  t.equal((await admin.submit(allowHref, '/admin/fraud/rules', { destination: '+44791112', action: 'allow', reason: 'a customer' })).statusCode, 303)
  const afterAllow = await admin.get('/admin/fraud')
  t.equal(flash(afterAllow), 'The destination is allowed.')
  t.equal((await register(app, attacked[31] as string)).statusCode, 200, 'allowed: the suspect prefix meets no challenge')
  const clearHref = linkTo(afterAllow, 'Clear the verdict on +44791112')
  t.match((await admin.get(clearHref)).body, '<h1>Clear the verdict on <span class="phone-number">+44791112</span>?</h1>')
  t.equal((await admin.submit(clearHref, '/admin/fraud/rules', { destination: '+44791112', action: 'clear' })).statusCode, 303)
  t.equal(flash(await admin.get('/admin/fraud')), 'The verdict is cleared.')
  t.equal((await register(app, attacked[32] as string)).json().code, 'challenge_required', 'cleared: the guard decides alone again')

  // Another destination, typed: a country; and nonsense, refused beside the field.
  const typed = await admin.get('/admin/fraud/confirm?destination=gg&action=block')
  t.match(typed.body, '<h1>Block GG?</h1>')
  const nonsense = await admin.get('/admin/fraud/confirm?destination=nonsense&action=block')
  t.equal(nonsense.statusCode, 400)
  t.match(nonsense.body, /<label for="destination">Number prefix or country<\/label>/)
  t.match(nonsense.body, 'aria-invalid="true"')
  t.match(text(nonsense), /Give a number prefix \(\+ and 2 to 14 digits, e.g. \+44791112 \) or a country’s two-letter code \(e.g. GB\)./)
  t.match(nonsense.body, 'value="nonsense"', 'what was typed stays')

  const actions = await app.db.selectFrom('admin_audit').select(['action', 'actor_kind', 'actor', 'details']).where('action', 'like', 'fraud.%').orderBy('id').execute()
  t.match(actions, [
    { action: 'fraud.block', actor_kind: 'phone', actor: adminPhone, details: /"destination":"\+44791112".*"reason":"pumping"/ },
    { action: 'fraud.allow', details: /"previous":"block"/ },
    { action: 'fraud.clear', details: /"previous":"allow"/ }
  ])
  t.equal(actions.length, 3)
  t.ok((await app.db.selectFrom('admin_audit').select('id').where('action', '=', 'read.fraud').execute()).length >= 4, 'each view of the page is a read.fraud entry')
  const audit = await admin.get('/admin/audit')
  t.match(text(audit), 'Destination blocked (fraud guard) Destination: +44791112 Reason: pumping')
  t.match(text(audit), 'Viewed the fraud guard')

  const russian = await admin.get('/admin/fraud', { 'accept-language': 'ru' })
  t.match(russian.body, '<h1>Защита от накрутки SMS</h1>')
  t.match(text(russian), 'Заблокировать +44791112')
})

t.test('a block and an allow ask for a fresh code once the last proof is older than ADMIN_PROOF_MINUTES; clear does not', async t => {
  const context = await build(t, { ADMIN_PROOF_MINUTES: '5' })
  const admin = new WebClient(context.app)
  await admin.signIn(context, adminPhone)
  context.clock.advance(5 * 60_000 + 1000)
  const page = '/admin/fraud/confirm?action=block&destination=%2B44791112'
  const confirm = await admin.get(page)
  t.match(confirm.body, /<label for="auth_code">Code sent to your phone<\/label>/)
  t.match(confirm.body, 'name="send_code"')
  t.match((await admin.get('/admin/fraud/confirm?action=allow&destination=%2B44791112')).body, 'name="auth_code"', 'an allow turns the guard off for a range: a stolen admin cookie alone cannot')
  const bareAllow = await admin.submit('/admin/fraud/confirm?action=allow&destination=%2B44791112', '/admin/fraud/rules', { destination: '+44791112', action: 'allow', reason: 'trust me' })
  t.equal(bareAllow.statusCode, 400, 'an allow without the code is refused')
  t.notMatch((await admin.get('/admin/fraud/confirm?action=clear&destination=%2B44791112')).body, 'name="auth_code"')

  const form = { destination: '+44791112', action: 'block', reason: 'pumping' }
  const bare = await admin.submit(page, '/admin/fraud/rules', form)
  t.equal(bare.statusCode, 400, 'no code: refused beside the field')
  t.match(bare.body, 'aria-invalid="true"')
  t.same(await rules(context), [])
  const sent = await admin.submit(page, '/admin/fraud/rules', { ...form, send_code: '1' })
  t.equal(sent.statusCode, 200)
  t.match(text(sent), 'A code is on its way to your phone.')
  t.match(sent.body, '<input type="hidden" name="destination" value="+44791112">', 'the confirmation again, the same destination')
  t.equal(context.sms.messages.at(-1)?.to, adminPhone)
  const done = await admin.submit(page, '/admin/fraud/rules', { ...form, auth_code: context.sms.lastCode(adminPhone) })
  t.equal(done.statusCode, 303)
  t.same(await rules(context), [{ destination: 'p:+44791112', verdict: 'block', reason: 'pumping', set_by: `phone:${adminPhone}` }])
})
