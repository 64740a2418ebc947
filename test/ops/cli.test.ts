import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { main } from '../../src/cli/phonepass.js'
import { loadConfig } from '../../src/config.js'
import { bearer, post, testSecret } from '../helpers/app.js'

const [alice, bob, carol, dave] = ['+15550100001', '+15550100002', '+15550100003', '+15550100004']
const testNumbers = [alice, bob, carol, dave].map(phone => `${phone}=1234`).join(',')

interface Run { code: number, stdout: string, stderr: string }

/** A real SQLite file with users signed in through the API, and the CLI run in-process on it. */
async function setup (t: { teardown: (fn: () => unknown) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'phonepass-cli-'))
  const env = { NODE_ENV: 'test', DATABASE_URL: `sqlite:${join(dir, 'phonepass.db')}`, PHONEPASS_SECRET: testSecret, LOG_LEVEL: 'silent', TEST_PHONE_NUMBERS: testNumbers }
  const app = await buildApp(loadConfig(env))
  t.teardown(async () => { await app.close(); rmSync(dir, { recursive: true, force: true }) })
  const tokens = new Map<string, { access: string, user: { invite_code: string } }>()
  for (const phone of [alice, bob, carol]) {
    await post(app, '/api/users/register/', { phone })
    tokens.set(phone, (await post(app, '/api/users/verify_code/', { phone, auth_code: '1234' })).json())
  }
  const token = (phone: string) => tokens.get(phone) as { access: string, user: { invite_code: string } }
  // alice invited bob, bob invited carol.
  await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(token(bob).access), payload: { invite_code: token(alice).user.invite_code } })
  await app.inject({ method: 'PATCH', url: '/api/profile/', headers: bearer(token(carol).access), payload: { invite_code: token(bob).user.invite_code } })
  // A known set of counters: the sign-ins above wrote their own, which these replace.
  await app.db.deleteFrom('limit_counters').execute()
  await app.db.insertInto('limit_counters').values([
    { key: `code:phone:${alice}:h`, window_start: 1, count: 3, expires_at: Date.now() + 3_600_000 },
    { key: `wrong:phone:${alice}:d`, window_start: 1, count: 2, expires_at: Date.now() + 3_600_000 },
    { key: `code:phone:${alice}9:h`, window_start: 1, count: 1, expires_at: Date.now() + 3_600_000 },
    { key: 'code:ip:127.0.0.1:h', window_start: 1, count: 5, expires_at: Date.now() + 3_600_000 }
  ]).execute()

  async function cli (...argv: string[]): Promise<Run> {
    let stdout = ''
    let stderr = ''
    const code = await main(argv, { env, stdout: text => { stdout += text }, stderr: text => { stderr += text } })
    return { code, stdout, stderr }
  }
  return { app, cli, token, env }
}

t.test('migrate says the database is up to date', async t => {
  const { cli } = await setup(t)
  t.same(await cli('migrate'), { code: 0, stdout: 'database is up to date\n', stderr: '' })
  const json = await cli('migrate', '--json')
  t.same(JSON.parse(json.stdout), { applied: [] })
})

t.test('user show: profile, sessions, code and limit state', async t => {
  const { cli } = await setup(t)
  const shown = await cli('user', 'show', bob)
  t.equal(shown.code, 0)
  t.match(shown.stdout, new RegExp(`^user \\d+  \\${bob}  invite code [A-Z0-9]{6}`))
  t.match(shown.stdout, /activated invite code: [A-Z0-9]{6}/)
  t.match(shown.stdout, `invited: ${carol}`)
  t.match(shown.stdout, /sessions \(1 live of 1\):\n {2}[0-9a-f]{8}… {2}api {2}live/)
  const json = JSON.parse((await cli('user', 'show', alice, '--json')).stdout)
  t.equal(json.profile.phone, alice)
  t.same(json.profile.invitedPhones, [bob])
  t.equal(json.sessions.length, 1)
  t.equal(json.sessions[0].state, 'live')
  t.same(json.limits.map((l: { key: string }) => l.key).sort(), [`code:phone:${alice}:h`, `wrong:phone:${alice}:d`], 'whole-segment match: not the longer number')
})

t.test('user sign-out revokes every session, and the tokens stop working', async t => {
  const { app, cli, token } = await setup(t)
  t.equal((await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(token(alice).access) })).statusCode, 200)
  t.same(await cli('user', 'sign-out', alice), { code: 0, stdout: `${alice}: 1 session(s) revoked\n`, stderr: '' })
  t.equal((await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(token(alice).access) })).statusCode, 401)
  t.same(JSON.parse((await cli('user', 'sign-out', alice, '--json')).stdout), { phone: alice, revoked: 0 })
  t.equal(JSON.parse((await cli('user', 'show', alice, '--json')).stdout).sessions[0].state, 'revoked')
})

t.test('limits clear deletes only the send quotas of that phone', async t => {
  const { app, cli } = await setup(t)
  t.same(await cli('limits', 'clear', alice), { code: 0, stdout: `${alice}: 1 limit counter(s) deleted\n`, stderr: '' })
  const left = await app.db.selectFrom('limit_counters').select('key').orderBy('key').execute()
  t.same(left.map(row => row.key), ['code:ip:127.0.0.1:h', `code:phone:${alice}9:h`, `wrong:phone:${alice}:d`], 'the send quota goes; the wrong-code count stays (issue 22)')
  t.same(JSON.parse((await cli('limits', 'clear', dave, '--json')).stdout), { phone: dave, deleted: 0 }, 'a phone without an account is fine')
})

t.test('invites tree draws the referral tree', async t => {
  const { cli } = await setup(t)
  const tree = await cli('invites', 'tree', alice)
  t.equal(tree.code, 0)
  t.match(tree.stdout, new RegExp(`^\\${alice}\\n└── \\${bob}  \\(\\d{4}-.*\\)\\n {4}└── \\${carol}  \\(`))
  const json = JSON.parse((await cli('invites', 'tree', alice, '--json')).stdout)
  t.equal(json.phone, alice)
  t.equal(json.invited[0].phone, bob)
  t.equal(json.invited[0].invited[0].phone, carol)
  t.same(json.invited[0].invited[0].invited, [])
  t.same(JSON.parse((await cli('invites', 'tree', carol, '--json')).stdout).invited, [])
})

t.test('webhooks list and resend: the events not delivered, and failed ones sent again', async t => {
  const { app, cli } = await setup(t)
  const base = { type: 'user.created', user_id: 1, payload: '{}', next_attempt_at: 1, created_at: Date.UTC(2026, 0, 1) }
  await app.db.insertInto('webhook_events').values([
    { ...base, msg_id: 'msg_delivered', status: 'delivered', attempts: 1, finished_at: 2 },
    { ...base, msg_id: 'msg_pending', status: 'pending', attempts: 2, last_status: 500, last_error: 'answered 500' },
    { ...base, msg_id: 'msg_failed', status: 'failed', attempts: 8, last_error: 'no answer in 10000 ms', finished_at: Date.UTC(2026, 0, 2) }
  ]).execute()
  const listed = await cli('webhooks', 'list')
  t.equal(listed.code, 0)
  t.match(listed.stdout, /^2 event\(s\)\n {2}msg_pending {2}user\.created +pending {2}attempts 2 {2}created 2026-01-01T00:00:00\.000Z {2}next 1970-01-01T00:00:00\.001Z {2}answered 500\n {2}msg_failed .* failed +attempts 8 .* gave up 2026-01-02T00:00:00\.000Z {2}no answer in 10000 ms\n$/)
  t.same(JSON.parse((await cli('webhooks', 'list', 'failed', '--json')).stdout).map((e: { msg_id: string }) => e.msg_id), ['msg_failed'])
  t.match(await cli('webhooks', 'list', 'delivered'), { code: 2, stderr: /webhooks list takes pending, failed or nothing/ })
  t.same(await cli('webhooks', 'resend', 'msg_pending'), { code: 1, stdout: '', stderr: 'phonepass: no failed event with webhook-id msg_pending\n' })
  t.same(await cli('webhooks', 'resend'), { code: 0, stdout: '1 failed event(s) will be sent again\n', stderr: '' })
  const row = await app.db.selectFrom('webhook_events').selectAll().where('msg_id', '=', 'msg_failed').executeTakeFirstOrThrow()
  t.match(row, { status: 'pending', attempts: 0, finished_at: null })
  t.ok(Math.abs(row.next_attempt_at - Date.now()) < 60_000, 'due now')
  t.same(JSON.parse((await cli('webhooks', 'resend', '--json')).stdout), { resent: 0 })
})

t.test('clear errors and exit codes', async t => {
  const { cli, env } = await setup(t)
  t.same(await cli('user', 'show', dave), { code: 1, stdout: '', stderr: `phonepass: no user with phone ${dave}\n` })
  t.same(await cli('user', 'show', 'not-a-phone'), { code: 2, stdout: '', stderr: 'phonepass: not a phone number: not-a-phone\n' })
  const unknown = await cli('user', 'delete', alice)
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /^phonepass: unknown command: user delete \+15550100001\n\nUsage: phonepass <command>/)
  t.match(await cli(), { code: 2, stderr: /a command is needed/ })
  t.match(await cli('user', 'show'), { code: 2, stderr: /exactly one phone number is expected/ })
  t.match(await cli('user', 'show', alice, bob), { code: 2, stderr: /exactly one phone number is expected/ })
  t.match(await cli('migrate', 'now'), { code: 2, stderr: /migrate takes no arguments/ })
  t.match(await cli('--bogus'), { code: 2, stderr: /Unknown option '--bogus'/ })
  t.match(await cli('--help'), { code: 0, stdout: /^Usage: phonepass <command> \[--json\]/ })
  let stderr = ''
  const code = await main(['migrate'], { env: { ...env, DATABASE_URL: 'mysql://x' }, stdout: () => {}, stderr: text => { stderr += text } })
  t.equal(code, 78)
  t.match(stderr, /^phonepass: Invalid configuration: DATABASE_URL must be/)
})

t.test('keys list, rotate and revoke', async t => {
  const { cli, app } = await setup(t)
  const listed = await cli('keys', 'list', '--json')
  t.equal(listed.code, 0)
  const [key] = JSON.parse(listed.stdout) as Array<{ kid: string, alg: string, state: string, readable: boolean }>
  t.match(key, { alg: 'ES256', state: 'in_use', readable: true })
  const human = await cli('keys', 'list')
  t.match(human.stdout, new RegExp(`^  1  ES256  in_use +${key!.kid}\\n     made \\S+  signs from \\S+  until -  retires -\\n$`))

  const rotated = await cli('keys', 'rotate')
  t.equal(rotated.code, 0)
  t.match(rotated.stdout, /^new key published; it signs after the publish lead\n/)
  t.match(rotated.stdout, / {2}2 {2}ES256 {2}standby /)
  const again = await cli('keys', 'rotate')
  t.match(again.stdout, /^not rotated: a new key is already published and waiting to sign\n/)
  await app.signingKeys.reload()
  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json<{ keys: unknown[] }>()
  t.equal(jwks.keys.length, 2, 'the server publishes the key the CLI made')

  const revoked = await cli('keys', 'revoke', key!.kid)
  t.equal(revoked.code, 0)
  t.match(revoked.stdout, new RegExp(`^${key!.kid} revoked\\n`))
  t.same(await cli('keys', 'revoke', key!.kid), { code: 1, stdout: '', stderr: `phonepass: no live key ${key!.kid}\n` })
  t.equal((await cli('keys', 'revoke')).code, 2, 'a kid is needed')
  // A kid is base64url: one in 64 begins with '-', which an option parser would take for an option.
  await app.db.updateTable('signing_keys').set({ kid: '-j9JFD5V31MUWr0KxHIY_2qJIwlyDOfmsBs75TvEZAg' }).where('kid', '=', key!.kid).execute()
  t.same(await cli('keys', 'revoke', '-j9JFD5V31MUWr0KxHIY_2qJIwlyDOfmsBs75TvEZAg', '--json'), { code: 1, stdout: '', stderr: 'phonepass: no live key -j9JFD5V31MUWr0KxHIY_2qJIwlyDOfmsBs75TvEZAg\n' }, 'a kid that begins with - is a kid (this one is revoked already)')
})

t.test('keys import: the operator\'s own key, published now, signing after the lead', async t => {
  const { cli, app } = await setup(t)
  const dir = mkdtempSync(join(tmpdir(), 'phonepass-key-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const { privateKey } = generateKeyPairSync('ed25519')
  writeFileSync(join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const { privateKey: small } = generateKeyPairSync('rsa', { modulusLength: 1024 })
  writeFileSync(join(dir, 'small.pem'), small.export({ type: 'pkcs8', format: 'pem' }))
  writeFileSync(join(dir, 'junk.pem'), 'not a key')

  const imported = await cli('keys', 'import', join(dir, 'key.pem'), '--json')
  t.equal(imported.code, 0, imported.stderr)
  const keys = JSON.parse(imported.stdout).keys as Array<{ alg: string, state: string, kid: string }>
  t.match(keys.map(key => [key.alg, key.state]), [['ES256', 'in_use'], ['EdDSA', 'standby']])
  await app.signingKeys.reload()
  const jwks = (await app.inject({ url: '/.well-known/jwks.json' })).json<{ keys: Array<{ kid: string, x: string }> }>()
  const published = jwks.keys.find(key => key.kid === keys[1]!.kid)
  t.equal(published?.x, createPublicKey(privateKey).export({ format: 'jwk' }).x, 'the public half of the given key')
  t.match(await cli('keys', 'import', join(dir, 'small.pem')), { code: 2, stderr: /not imported: only P-256, RSA of 2048 bits or more, and Ed25519 keys/ })
  t.match(await cli('keys', 'import', join(dir, 'junk.pem')), { code: 2, stderr: /not imported: not a private key in PEM/ })
})

t.test('user block ends the sessions and needs a reason; user show tells; user unblock lifts it', async t => {
  const { app, cli, token } = await setup(t)
  const missing = await cli('user', 'block', alice)
  t.equal(missing.code, 2)
  t.match(missing.stderr, 'user block needs --reason')
  t.match((await cli('user', 'sign-out', alice, '--reason', 'x')).stderr, '--reason goes with user block only')
  t.same(await cli('user', 'block', alice, '--reason', 'spam invites'), { code: 0, stdout: `${alice}: blocked; 1 session(s) ended\n`, stderr: '' })
  t.equal((await app.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(token(alice).access) })).statusCode, 401)
  t.match((await cli('user', 'show', alice)).stdout, /BLOCKED since \d{4}-\d\d-\d\dT[0-9:.]+Z: spam invites/)
  t.same(JSON.parse((await cli('user', 'block', alice, '--reason', 'again', '--json')).stdout), { phone: alice, changed: false, revoked: 0 })
  await post(app, '/api/users/register/', { phone: alice })
  const refused = await post(app, '/api/users/verify_code/', { phone: alice, auth_code: '1234' })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'account_blocked')
  t.same(await cli('user', 'unblock', alice), { code: 0, stdout: `${alice}: unblocked\n`, stderr: '' })
  t.same(await cli('user', 'unblock', alice), { code: 0, stdout: `${alice}: was not blocked\n`, stderr: '' })
  await post(app, '/api/users/register/', { phone: alice })
  t.equal((await post(app, '/api/users/verify_code/', { phone: alice, auth_code: '1234' })).statusCode, 200)
  t.equal((await cli('user', 'block', dave, '--reason', 'x')).code, 1, 'no such user')
})

t.test('the CLI\'s actions go to the audit log as cli:<operator>; audit list shows every face\'s, newest first', async t => {
  const { app, cli, env } = await setup(t)
  const as = async (operator: string, ...argv: string[]): Promise<Run> => {
    let stdout = ''
    let stderr = ''
    const code = await main(argv, { env: { ...env, PHONEPASS_OPERATOR: operator }, stdout: text => { stdout += text }, stderr: text => { stderr += text } })
    return { code, stdout, stderr }
  }
  t.same(await cli('audit', 'list'), { code: 0, stdout: '0 entries\n', stderr: '' })
  t.equal((await as('maria', 'user', 'block', alice, '--reason', 'spam invites')).code, 0)
  t.equal((await as('maria', 'user', 'block', alice, '--reason', 'again')).code, 0)
  t.equal((await as('maria', 'user', 'unblock', alice)).code, 0)
  t.equal((await as('ivan', 'user', 'sign-out', bob)).code, 0)
  t.equal((await as('ivan', 'limits', 'clear', dave)).code, 0)
  t.equal((await cli('user', 'show', alice)).code, 0, 'reads are not actions')
  t.equal((await as('ivan', 'user', 'block', dave, '--reason', 'x')).code, 1, 'no such user: no entry')
  // One from the admin API's service, as the pages and the API write them.
  const bobId = (await app.db.selectFrom('users').select('id').where('phone', '=', bob).executeTakeFirstOrThrow()).id
  await app.services.admin.blockUser({ actor: { kind: 'key', name: 'support' }, ip: '203.0.113.9', requestId: 'req-77' }, bobId, 'fraud')

  const listed = await cli('audit', 'list')
  t.equal(listed.code, 0)
  const lines = listed.stdout.trimEnd().split('\n')
  t.equal(lines[0], '6 entries; older ones: --before 1')
  t.match(lines[1], new RegExp(`^  #6  \\S+Z  key:support  user\\.block +user ${bobId} \\+15550100002  \\{"reason":"fraud","changed":true,"revoked":0\\}  203\\.0\\.113\\.9  req-77$`))
  t.match(lines[2], /^ {2}#5 .* cli:ivan {2}limits\.clear .* \+15550100004 {2}\{"deleted":0\} {2}- {2}-$/)
  t.match(lines[6], /^ {2}#1 .* cli:maria {2}user\.block .* \+15550100001 {2}\{"reason":"spam invites","changed":true,"revoked":1\} {2}- {2}-$/)

  const json = JSON.parse((await cli('audit', 'list', alice, '--json')).stdout) as Array<{ id: number, actor: unknown, action: string, details: unknown, target: { phone: string } }>
  t.same(json.map(e => [e.id, e.action, e.details]), [
    [3, 'user.unblock', { changed: true, blockedReason: 'spam invites' }],
    [2, 'user.block', { reason: 'again', changed: false, revoked: 0 }],
    [1, 'user.block', { reason: 'spam invites', changed: true, revoked: 1 }]
  ], 'of one phone, with the JSON the API gives')
  t.same(json[0]?.actor, { kind: 'cli', name: 'maria' })
  t.same(JSON.parse((await cli('audit', 'list', '--limit', '2', '--before', '5', '--json')).stdout).map((e: { id: number }) => e.id), [4, 3])
  t.match(await cli('audit', 'list', '--limit', '0'), { code: 2, stderr: /--limit takes a whole number from 1 to 1000/ })
  t.match(await cli('audit', 'list', '--before', 'x'), { code: 2, stderr: /--before takes a whole number/ })
  t.match(await cli('audit', 'list', alice, bob), { code: 2, stderr: /audit list takes at most one phone number/ })
  t.match(await cli('user', 'show', alice, '--limit', '2'), { code: 2, stderr: /--limit and --before go with audit list only/ })

  // Without PHONEPASS_OPERATOR the OS user is named.
  t.equal((await cli('user', 'sign-out', carol)).code, 0)
  const [latest] = JSON.parse((await cli('audit', 'list', '--limit', '1', '--json')).stdout) as Array<{ actor: { kind: string, name: string } }>
  t.equal(latest?.actor.kind, 'cli')
  t.ok((latest?.actor.name.length ?? 0) > 0, `named ${latest?.actor.name ?? ''}`)
})
