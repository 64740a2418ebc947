import { createHash, createHmac, createPublicKey, generateKeyPairSync, randomBytes, randomInt, timingSafeEqual, type JsonWebKey, type KeyObject } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import Fastify, { type FastifyReply } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Agent, request } from 'undici'
import { loadConfig } from '../src/config.js'
import { generateInviteCode } from '../src/domain/codes.js'
import { Profile, RegisterBody, RegisterReply, VerifyBody, VerifyReply } from '../src/http/api/schemas.js'
import { securityHeaders } from '../src/http/security-headers.js'
import { appSecurityOptions } from '../src/http/web/plugin.js'
import { translate } from '../src/i18n/catalogue.js'
import { ipSubject, windowOf } from '../src/services/limits.js'
import { openSqlite } from '../src/store/database.js'

// The floor of `npm run bench`: what GET /api/users/me/, register and verify cost with nothing
// around their work. A bare fastify app with phonepass's response schemas and security headers
// that runs the statements phonepass runs for these three (the same SQL, as better-sqlite3
// statements called directly), verifies and signs access tokens as phonepass does (fast-jwt,
// the file's key kind: ES256), and sends the code by the same webhook call. Nothing else: no
// request log, no metrics, no request id, no phone parsing (the load sends E.164 numbers), no
// device tokens presented, no webhooks; each refusal is a bare 4xx. Its answers have
// phonepass's status and shape (test/bench/servers.test.ts checks it).
//
// Configured by phonepass's own environment (DATABASE_URL, the limits, OTP and token
// settings, SMS_WEBHOOK_URL), read by phonepass's config loader.

const config = loadConfig(process.env)
if (!config.databaseUrl.startsWith('sqlite:')) throw new Error('the floor runs on a SQLite file')
if (config.sms.webhookUrl === undefined) throw new Error('the floor sends its codes to SMS_WEBHOOK_URL')
const database = openSqlite(config.databaseUrl.slice('sqlite:'.length))
const smsUrl = config.sms.webhookUrl
const hour = 3_600_000
const day = 86_400_000

const sql = {
  begin: database.prepare('begin'),
  beginImmediate: database.prepare('begin immediate'),
  commit: database.prepare('commit'),
  rollback: database.prepare('rollback'),
  liveSession: database.prepare('select * from "sessions" where "id" = ? and "revoked_at" is null and "expires_at" > ?'),
  profile: database.prepare('select "users"."id", "users"."phone", "users"."invite_code", "inviter"."invite_code" as "inviter_code", (select count(*) as "n" from "users" as "invited" where "invited"."invited_by" = "users"."id") as "invited_count" from "users" left join "users" as "inviter" on "inviter"."id" = "users"."invited_by" where "users"."id" = ?'),
  invitedPhones: database.prepare('select "phone" from "users" where "invited_by" = ? order by "invited_at", "id" limit ? offset ?'),
  replaceLoginCode: database.prepare('insert into "login_codes" ("phone", "code_hash", "created_at", "expires_at", "ip") values (?, ?, ?, ?, ?) on conflict ("phone") do update set "code_hash" = "excluded"."code_hash", "attempts" = 0, "created_at" = "excluded"."created_at", "expires_at" = "excluded"."expires_at", "ip" = "excluded"."ip", "spent_at" = null where "login_codes"."created_at" <= ? returning "phone"'),
  // register's six counters (the phone's four quotas, the address's, the hour's SMS budget),
  // each under its own ceiling, in one statement: a row at its ceiling is not counted and
  // does not come back.
  takeSixBelow: database.prepare(`insert into "limit_counters" ("key", "window_start", "count", "expires_at") values ${Array(6).fill('(?, ?, 1, ?)').join(', ')} on conflict ("key", "window_start") do update set "count" = "limit_counters"."count" + 1 where "limit_counters"."count" < case "excluded"."key" ${Array(6).fill('when ? then cast(? as integer)').join(' ')} end returning "key", "count"`),
  takeOneBelow: database.prepare('insert into "limit_counters" ("key", "window_start", "count", "expires_at") values (?, ?, 1, ?) on conflict ("key", "window_start") do update set "count" = "limit_counters"."count" + 1 where "limit_counters"."count" < ? returning "count"'),
  // verify's two tries (the phone's, the address's), counted whatever the code turns out to be.
  countTwo: database.prepare('insert into "limit_counters" ("key", "window_start", "count", "expires_at") values (?, ?, 1, ?), (?, ?, 1, ?) on conflict ("key", "window_start") do update set "count" = "limit_counters"."count" + 1 returning "key", "count"'),
  giveBackTwo: database.prepare('update "limit_counters" set "count" = "count" - 1 where ("key", "window_start") in ((?, ?), (?, ?)) and "count" > 0'),
  countLoginAttempt: database.prepare('update "login_codes" set "attempts" = "attempts" + 1 where "phone" = ? and "spent_at" is null and "attempts" < ? and "expires_at" > ? returning "code_hash", "attempts"'),
  spendLoginCode: database.prepare('update "login_codes" set "spent_at" = ? where "phone" = ? and "code_hash" = ? and "spent_at" is null returning "phone"'),
  userByPhone: database.prepare('select * from "users" where "phone" = ?'),
  insertUser: database.prepare('insert into "users" ("phone", "invite_code", "created_at") values (?, ?, ?) on conflict do nothing returning *'),
  lockUnblockedUser: database.prepare('update "users" set "id" = "id" where "id" = ? and "blocked_at" is null returning "id"'),
  insertSession: database.prepare('insert into "sessions" ("id", "user_id", "kind", "created_at", "last_seen_at", "expires_at", "user_agent", "ip") values (?, ?, ?, ?, ?, ?, ?, ?)'),
  insertRefreshToken: database.prepare('insert into "refresh_tokens" ("token_hash", "session_id", "created_at") values (?, ?, ?)')
}


/** Runs `work` in a write transaction (BEGIN IMMEDIATE, as phonepass's writes). */
function inWriteTransaction<T> (work: () => T): T {
  sql.beginImmediate.run()
  try {
    const result = work()
    sql.commit.run()
    return result
  } catch (error) {
    if (database.inTransaction) sql.rollback.run()
    throw error
  }
}

// Access tokens: verified with the file's signing key (the one `npm run bench` seeds its tokens
// with), signed with a new key of the same kind, with phonepass's claims.
const signingKey = database.prepare('select "kid", "alg", "public_jwk" from "signing_keys" where "revoked_at" is null and "public_jwk" is not null order by "generation" desc limit 1')
  .get() as { kid: string, alg: 'ES256' | 'RS256' | 'EdDSA', public_jwk: string } | undefined
if (signingKey === undefined) throw new Error('the floor needs the file\'s signing key: start it on a file phonepass has used')
const verifyToken = createVerifier({
  key: createPublicKey({ key: JSON.parse(signingKey.public_jwk) as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString(),
  algorithms: [signingKey.alg],
  ignoreExpiration: true,
  ignoreNotBefore: true,
  cache: 10_000
})
const keyPairs: Record<typeof signingKey.alg, () => { privateKey: KeyObject }> = {
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  EdDSA: () => generateKeyPairSync('ed25519')
}
const signToken = createSigner({ key: keyPairs[signingKey.alg]().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: signingKey.alg, kid: 'floor' })

const otpKey = randomBytes(32)
const deviceKey = randomBytes(32)
const codeHashOf = (phone: string, code: string): Buffer => createHmac('sha256', otpKey).update(`${phone}:${code}`).digest()

const sms = new Agent({ connect: { timeout: config.sms.timeoutMs }, headersTimeout: config.sms.timeoutMs, bodyTimeout: config.sms.timeoutMs, keepAliveTimeout: 10_000 })
async function sendSms (to: string, body: string): Promise<void> {
  const response = await request(smsUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to, body }), dispatcher: sms, signal: AbortSignal.timeout(config.sms.timeoutMs) })
  await response.body.dump()
  if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`SMS webhook answered ${response.statusCode}`)
}

const refuse = async (reply: FastifyReply, status: number, code: string): Promise<never> =>
  await reply.code(status).send({ detail: code, code }) as never

function profileOf (userId: number): { id: number, phone: string, invite_code: string, activated_invite_code: string | null, users_invited: string[], users_invited_count: number } | undefined {
  const row = sql.profile.get(userId) as { id: number, phone: string, invite_code: string, inviter_code: string | null, invited_count: number } | undefined
  if (row === undefined) return undefined
  const invited = row.invited_count === 0 ? [] : (sql.invitedPhones.all(userId, config.profileInvitedLimit, 0) as Array<{ phone: string }>).map(r => r.phone)
  return { id: row.id, phone: row.phone, invite_code: row.invite_code, activated_invite_code: row.inviter_code, users_invited: invited, users_invited_count: row.invited_count }
}

const app = Fastify({
  logger: false,
  bodyLimit: 16 * 1024,
  ajv: { customOptions: { allErrors: true, coerceTypes: true, removeAdditional: true, useDefaults: true } }
}).withTypeProvider<TypeBoxTypeProvider>()
const headers = securityHeaders(appSecurityOptions)
app.addHook('onRequest', (_request, reply, done) => { reply.headers(headers); done() })
app.addSchema(Profile)

class Refusal extends Error {
  constructor (readonly code: string, readonly status = 429) { super(code) }
}
app.setErrorHandler(async (error, _request, reply) => {
  if (error instanceof Refusal) return await refuse(reply, error.status, error.code)
  if ((error as { validation?: unknown }).validation !== undefined) return await refuse(reply, 400, 'invalid')
  return await refuse(reply, 500, 'server_error')
})

app.get('/api/users/me/', { schema: { response: { 200: { $ref: 'Profile' } } } }, async (req, reply) => {
  const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
  if (token === undefined) return await refuse(reply, 401, 'not_authenticated')
  let claims: Record<string, unknown>
  try {
    claims = verifyToken(token) as Record<string, unknown>
  } catch {
    return await refuse(reply, 401, 'token_not_valid')
  }
  const now = Date.now()
  if (claims.token_type !== 'access' || typeof claims.exp !== 'number' || claims.exp * 1000 <= now) return await refuse(reply, 401, 'token_not_valid')
  // The session and the profile in one read transaction.
  sql.begin.run()
  let session: { user_id: number } | undefined
  let profile: ReturnType<typeof profileOf>
  try {
    session = sql.liveSession.get(claims.sid, now) as { user_id: number } | undefined
    profile = session === undefined || session.user_id !== claims.user_id ? undefined : profileOf(session.user_id)
  } finally {
    sql.commit.run()
  }
  if (profile === undefined) return await refuse(reply, 401, 'token_not_valid')
  return profile
})

app.post('/api/users/register/', { schema: { body: RegisterBody, response: { 200: RegisterReply } } }, async (req, reply) => {
  const phone = req.body.phone
  if (!/^\+[1-9][0-9]{6,14}$/.test(phone)) return await refuse(reply, 400, 'phone_invalid')
  const now = Date.now()
  let code = ''
  for (let i = 0; i < config.otp.length; i++) code += String(randomInt(10))
  const windows = [
    [windowOf(`code:phone:${phone}:h`, hour, now), config.limits.codesPerPhoneHour],
    [windowOf(`code:phone:${phone}:d`, day, now), config.limits.codesPerPhoneDay],
    [windowOf(`code:all:${phone}:h`, hour, now), config.limits.codesPerPhoneAllHour],
    [windowOf(`code:all:${phone}:d`, day, now), config.limits.codesPerPhoneAllDay],
    [windowOf(`code:ip:${ipSubject(req.ip)}:h`, hour, now), config.limits.codesPerIpHour],
    [windowOf('sms:all:h', hour, now), config.sms.hourlyCap]
  ] as const
  inWriteTransaction(() => {
    const stored = sql.replaceLoginCode.get(phone, codeHashOf(phone, code).toString('hex'), now, now + config.otp.ttlSeconds * 1000, req.ip, now - config.otp.resendSeconds * 1000)
    const counted = new Set((sql.takeSixBelow.all(...windows.flatMap(([w]) => [w.key, w.windowStart, w.expiresAt]), ...windows.flatMap(([w, ceiling]) => [w.key, ceiling])) as Array<{ key: string }>).map(row => row.key))
    const over = windows.findIndex(([w]) => !counted.has(w.key))
    // A refusal rolls back every count, as phonepass's does.
    if (over >= 0 && over < 4) throw new Refusal('too_many_codes')
    if (over === 4) throw new Refusal('rate_limited')
    if (stored === undefined) throw new Refusal('resend_too_soon')
    if (over === 5) throw new Refusal('sms_cap_reached', 503)
  })
  await sendSms(phone, translate('en', 'sms_text', { code, minutes: Math.round(config.otp.ttlSeconds / 60) }))
  return { phone, expires_in: config.otp.ttlSeconds, resend_in: config.otp.resendSeconds, detail: translate('en', 'code_sent', { phone }), channel: 'sms' as const, channels: ['sms' as const] }
})

app.post('/api/users/verify_code/', { schema: { body: VerifyBody, response: { 200: VerifyReply } } }, async (req, reply) => {
  const { phone, auth_code: code } = req.body
  if (!new RegExp(`^[0-9]{${config.otp.length}}$`).test(code)) return await refuse(reply, 400, 'code_invalid')
  const now = Date.now()
  const tries = [windowOf(`wrong:phone:${phone}:d`, day, now), windowOf(`wrong:ip:${ipSubject(req.ip)}:h`, hour, now)] as const
  const newDevice = windowOf(`device:new:${phone}:d`, day, now)
  // A refusal commits the counted tries, as phonepass's does.
  const signedIn = inWriteTransaction(() => {
    const counts = new Map((sql.countTwo.all(...tries.flatMap(w => [w.key, w.windowStart, w.expiresAt])) as Array<{ key: string, count: number }>).map(r => [r.key, r.count]))
    if ((counts.get(tries[0].key) ?? 0) > config.limits.wrongCodesPerPhoneDay) return { refusal: new Refusal('too_many_wrong_codes') }
    if ((counts.get(tries[1].key) ?? 0) > config.limits.wrongCodesPerIpHour) return { refusal: new Refusal('rate_limited') }
    const attempt = sql.countLoginAttempt.get(phone, config.otp.maxAttempts, now) as { code_hash: string } | undefined
    if (attempt === undefined) return { refusal: new Refusal('code_expired', 400) }
    const stored = Buffer.from(attempt.code_hash, 'hex')
    const given = codeHashOf(phone, code)
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return { refusal: new Refusal('code_invalid', 400) }
    sql.spendLoginCode.get(now, phone, attempt.code_hash)
    sql.giveBackTwo.run(tries[0].key, tries[0].windowStart, tries[1].key, tries[1].windowStart)
    // As phonepass: the phone's user, or a new one; a new invite code when the one drawn is taken.
    let user: { id: number } | undefined
    let created = false
    for (let i = 0; user === undefined && i < 10; i++) {
      user = sql.userByPhone.get(phone) as { id: number } | undefined
      if (user !== undefined) break
      user = sql.insertUser.get(phone, generateInviteCode(), now) as { id: number } | undefined
      created = user !== undefined
    }
    if (user === undefined) throw new Error('no free invite code after several tries')
    if (sql.lockUnblockedUser.get(user.id) === undefined) return { refusal: new Refusal('account_blocked', 403) }
    const sessionId = randomBytes(16).toString('hex')
    sql.insertSession.run(sessionId, user.id, 'api', now, now, now + config.sessionTtlDays * day, req.headers['user-agent']?.slice(0, 256) ?? null, req.ip)
    const refresh = randomBytes(32).toString('base64url')
    sql.insertRefreshToken.run(createHash('sha256').update(refresh).digest('hex'), sessionId, now)
    const ownDevice = sql.takeOneBelow.get(newDevice.key, newDevice.windowStart, newDevice.expiresAt, config.limits.newDevicesPerPhoneDay) !== undefined
    return { userId: user.id, sessionId, refresh, created, ownDevice }
  })
  if ('refusal' in signedIn) throw signedIn.refusal
  const user = profileOf(signedIn.userId)
  if (user === undefined) throw new Error('no profile')
  const iat = Math.floor(now / 1000)
  const access = signToken({ token_type: 'access', exp: iat + config.accessTokenTtlSeconds, iat, jti: randomBytes(16).toString('hex'), user_id: signedIn.userId, sid: signedIn.sessionId })
  const deviceId = signedIn.ownDevice ? randomBytes(16).toString('base64url') : createHmac('sha256', deviceKey).update(`shared-device.${phone}`).digest().subarray(0, 16).toString('base64url')
  const deviceExpiry = iat + config.deviceTokenTtlDays * 86_400
  const deviceToken = `v1.${deviceId}.${deviceExpiry}.${createHmac('sha256', deviceKey).update(`v1.${deviceId}.${deviceExpiry}.${phone}`).digest('base64url')}`
  return { refresh: signedIn.refresh, access, token_type: 'Bearer' as const, expires_in: config.accessTokenTtlSeconds, created: signedIn.created, user, device_token: deviceToken }
})

await app.listen({ port: config.port, host: '127.0.0.1' })
process.send?.('ready')
process.on('SIGTERM', () => { void app.close().then(async () => { await sms.close(); database.close(); process.exit(0) }) })
