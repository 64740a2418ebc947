import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { EnvSchema, loadConfig } from '../src/config.js'

t.test('defaults', async t => {
  const dir = t.testdir()
  const config = loadConfig({ DATABASE_URL: `sqlite:${dir}/db/phonepass.db` })
  t.match(config, {
    nodeEnv: 'development',
    port: 3000,
    host: '0.0.0.0',
    sms: { provider: 'console', timeoutMs: 5000 },
    otp: { length: 4, ttlSeconds: 300, maxAttempts: 3, resendSeconds: 60 },
    phoneDefaultCountry: 'RU',
    trustProxy: { kind: 'none' },
    accessTokenTtlSeconds: 900,
    sessionTtlDays: 30
  })
  t.equal(config.secrets.length, 1)
  t.equal(readFileSync(`${dir}/db/.phonepass-secret`, 'utf8').trim(), config.secrets[0], 'the development secret is kept beside the database')
  t.same(loadConfig({ DATABASE_URL: `sqlite:${dir}/db/phonepass.db` }).secrets, config.secrets, 'and read back on restart')
})

t.test('values are parsed', async t => {
  const config = loadConfig({
    PORT: '8080',
    PHONEPASS_SECRET: `${'a'.repeat(32)},${'b'.repeat(32)}`,
    TEST_PHONE_NUMBERS: '+15550100001=1234, +15550100002=5678',
    TRUST_PROXY: '2',
    SMS_PROVIDER: 'webhook',
    SMS_WEBHOOK_URL: 'https://sms.example/hook',
    DATABASE_URL: 'postgres://u:p@db:5432/phonepass'
  })
  t.equal(config.port, 8080)
  t.same(config.secrets, ['a'.repeat(32), 'b'.repeat(32)])
  t.same([...config.testPhoneNumbers], [['+15550100001', '1234'], ['+15550100002', '5678']])
  t.same(config.trustProxy, { kind: 'hops', hops: 2 })
  t.same(loadConfig({ TRUST_PROXY: 'true', DATABASE_URL: 'sqlite::memory:' }).trustProxy, { kind: 'all' })
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.1', DATABASE_URL: 'sqlite::memory:' }).trustProxy, { kind: 'addresses', addresses: ['10.0.0.0/8', '192.168.1.1'] })
})

t.test('webhooks: off without WEBHOOK_URL; with it, a secret, the events, the bounds', async t => {
  const base = { DATABASE_URL: 'sqlite::memory:' }
  t.equal(loadConfig(base).webhooks, undefined)
  t.same(loadConfig(base).sms.webhookSecrets, [])
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
  const config = loadConfig({ ...base, WEBHOOK_URL: 'https://crm.example/hooks', WEBHOOK_SECRET: `${secret},${secret}`, SMS_WEBHOOK_SECRET: secret })
  t.match(config.webhooks, { url: 'https://crm.example/hooks', secrets: [secret, secret], timeoutMs: 10000, retentionDays: 7, backlogAlertSeconds: 3600 })
  t.same([...config.webhooks?.events ?? []], ['user.created', 'invite.activated', 'user.deleted', 'user.phone_changed', 'user.blocked', 'user.unblocked', 'fraud.destination_suspect', 'passkey.added', 'passkey.removed'], 'all but user.signed_in by default')
  t.same(config.sms.webhookSecrets, [secret])
  const chosen = loadConfig({ ...base, WEBHOOK_URL: 'https://crm.example/hooks', WEBHOOK_SECRET: secret, WEBHOOK_EVENTS: 'user.signed_in, user.created' })
  t.same([...chosen.webhooks?.events ?? []], ['user.signed_in', 'user.created'])
  const cases: Array<[Record<string, string>, string]> = [
    [{ WEBHOOK_URL: 'https://crm.example/hooks' }, 'Invalid configuration: WEBHOOK_SECRET is required when WEBHOOK_URL is set (whsec_ and a base64 key, e.g. whsec_$(openssl rand -base64 32))'],
    [{ WEBHOOK_URL: 'crm.example' }, 'Invalid configuration: WEBHOOK_URL must be an http:// or https:// URL that receives the events, got "crm.example"'],
    [{ WEBHOOK_SECRET: 'whsec_short' }, 'Invalid configuration: WEBHOOK_SECRET must be whsec_ and a base64 key of 24 to 64 bytes (a comma-separated list when rotating: each one signs), got (hidden)'],
    [{ SMS_WEBHOOK_SECRET: 'not-whsec-0123456789012345678901234567890' }, 'Invalid configuration: SMS_WEBHOOK_SECRET must be whsec_ and a base64 key of 24 to 64 bytes (a comma-separated list when rotating: each one signs), got (hidden)'],
    [{ WEBHOOK_URL: 'https://crm.example/hooks', WEBHOOK_SECRET: secret, WEBHOOK_EVENTS: 'user.created,user.exploded' }, 'Invalid configuration: WEBHOOK_EVENTS must be a comma-separated list of event types from user.created, user.signed_in, invite.activated, user.deleted, user.phone_changed, user.blocked, user.unblocked, fraud.destination_suspect, passkey.added, passkey.removed, got "user.exploded"'],
    [{ WEBHOOK_TIMEOUT_MS: '50' }, 'Invalid configuration: WEBHOOK_TIMEOUT_MS must be milliseconds from 100 to 60000, got "50"'],
    [{ WEBHOOK_RETENTION_DAYS: '0' }, 'Invalid configuration: WEBHOOK_RETENTION_DAYS must be days from 1 to 365, got "0"'],
    [{ WEBHOOK_BACKLOG_ALERT_SECONDS: '10' }, 'Invalid configuration: WEBHOOK_BACKLOG_ALERT_SECONDS must be seconds from 60 to 604800, got "10"']
  ]
  for (const [env, line] of cases) {
    t.throws(() => loadConfig({ ...base, ...env }), { name: 'ConfigError', message: line }, JSON.stringify(env))
  }
})

t.test('a wrong value stops start-up with one line naming the variable', async t => {
  const base = { DATABASE_URL: 'sqlite::memory:' }
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'abc' }, 'Invalid configuration: PORT must be a port number from 0 to 65535, got "abc"'],
    [{ PORT: '70000' }, 'Invalid configuration: PORT must be a port number from 0 to 65535, got "70000"'],
    [{ DATABASE_URL: 'mysql://x' }, 'Invalid configuration: DATABASE_URL must be sqlite:<file>, sqlite::memory: or postgres://user:password@host:port/database, got "mysql://x"'],
    [{ OTP_LENGTH: '3' }, 'Invalid configuration: OTP_LENGTH must be a whole number of digits from 4 to 8, got "3"'],
    [{ JWT_ALGORITHM: 'HS512' }, 'Invalid configuration: JWT_ALGORITHM must be one of ES256, RS256, EdDSA, HS256, got "HS512"'],
    [{ JWT_KEY_PUBLISH_LEAD_SECONDS: '300' }, 'Invalid configuration: JWT_KEY_PUBLISH_LEAD_SECONDS must be seconds from 600 to 604800 (longer than the JWKS cache of 300 s plus the 30 s re-read), got "300"'],
    [{ JWT_KEY_ROTATION_DAYS: '-1' }, 'Invalid configuration: JWT_KEY_ROTATION_DAYS must be days from 0 to 3650 (0: never, only `phonepass keys rotate`), got "-1"'],
    [{ OTP_LENGTH: '9' }, 'Invalid configuration: OTP_LENGTH must be a whole number of digits from 4 to 8, got "9"'],
    [{ SMS_PROVIDER: 'carrier-pigeon' }, 'Invalid configuration: SMS_PROVIDER must be one of console, webhook, twilio, got "carrier-pigeon"'],
    [{ SMS_PROVIDER: 'webhook' }, 'Invalid configuration: SMS_WEBHOOK_URL is required when SMS_PROVIDER=webhook'],
    [{ PHONEPASS_SECRET: 'short' }, 'Invalid configuration: PHONEPASS_SECRET must be at least 32 characters (a comma-separated list when rotating: the first signs, all verify), got (hidden)'],
    [{ TEST_PHONE_NUMBERS: '15550100001:1234' }, 'Invalid configuration: TEST_PHONE_NUMBERS must be a comma-separated list of +E164=code pairs, e.g. +15550100001=1234, got "15550100001:1234"'],
    [{ TEST_PHONE_NUMBERS: '+15550100001=123456' }, 'Invalid configuration: TEST_PHONE_NUMBERS code for +15550100001 must have OTP_LENGTH (4) digits'],
    [{ PHONE_DEFAULT_COUNTRY: 'XX' }, 'Invalid configuration: PHONE_DEFAULT_COUNTRY must be an ISO 3166 country code such as RU or GB, got "XX"'],
    [{ TRUST_PROXY: 'yes please' }, 'Invalid configuration: TRUST_PROXY must be false, true, a hop count from 1 to 99, or proxy addresses and CIDR ranges, got "yes please"'],
    [{ TRUST_PROXY: '0' }, 'Invalid configuration: TRUST_PROXY=0 trusts no proxy; write false for none, or the number of proxies in front (1 on Heroku, 2 on Render and Fly)'],
    [{ TRUST_PROXY: '10.0.0.0/33' }, 'Invalid configuration: TRUST_PROXY must list IP addresses or CIDR ranges such as 10.0.0.0/8, got "10.0.0.0/33"'],
    [{ TRUST_PROXY: '1, 2' }, 'Invalid configuration: TRUST_PROXY must list IP addresses or CIDR ranges such as 10.0.0.0/8, got "1"'],
    [{ NODE_ENV: 'production' }, 'Invalid configuration: PHONEPASS_SECRET is required when NODE_ENV=production (at least 32 characters, e.g. from `openssl rand -base64 32`)']
  ]
  for (const [env, line] of cases) {
    t.throws(() => loadConfig({ ...base, ...env }), { name: 'ConfigError', message: line }, JSON.stringify(env))
  }
})

t.test('CORS_ORIGINS, METRICS_PUBLIC and SMS_CONSOLE_IN_PRODUCTION', async t => {
  const base = { DATABASE_URL: 'sqlite::memory:' }
  const defaults = loadConfig(base)
  t.same(defaults.corsOrigins, [], 'no CORS by default')
  t.equal(defaults.metricsPublic, false)
  t.equal(defaults.smsConsoleInProduction, false)
  const set = loadConfig({ ...base, CORS_ORIGINS: ' https://app.example.com , http://localhost:5173', METRICS_PUBLIC: 'true', SMS_CONSOLE_IN_PRODUCTION: 'true' })
  t.same(set.corsOrigins, ['https://app.example.com', 'http://localhost:5173'])
  t.equal(set.metricsPublic, true)
  t.equal(set.smsConsoleInProduction, true)
  t.equal(loadConfig({ ...base, METRICS_PUBLIC: 'false' }).metricsPublic, false)
  const cases: Array<[Record<string, string>, string]> = [
    [{ CORS_ORIGINS: 'https://app.example.com/' }, 'Invalid configuration: CORS_ORIGINS must be a comma-separated list of origins, e.g. https://app.example.com,http://localhost:5173 (scheme, host and port, no path; empty: no CORS), got "https://app.example.com/"'],
    [{ CORS_ORIGINS: '*' }, 'Invalid configuration: CORS_ORIGINS must be a comma-separated list of origins, e.g. https://app.example.com,http://localhost:5173 (scheme, host and port, no path; empty: no CORS), got "*"'],
    [{ METRICS_PUBLIC: 'yes' }, 'Invalid configuration: METRICS_PUBLIC must be true or false (true: GET /metrics answers without a token in production too), got "yes"'],
    [{ SMS_CONSOLE_IN_PRODUCTION: '1x' }, 'Invalid configuration: SMS_CONSOLE_IN_PRODUCTION must be true or false (true: with SMS_PROVIDER=console in production, codes and full phone numbers are written to the log), got "1x"']
  ]
  for (const [env, line] of cases) {
    t.throws(() => loadConfig({ ...base, ...env }), { name: 'ConfigError', message: line }, JSON.stringify(env))
  }
})

/** Every whole-number variable of the schema, with its bounds and its description. */
const integerVariables = Object.entries(EnvSchema.properties as Record<string, { type?: string, minimum?: number, maximum?: number, description?: string }>)
  .filter(([, schema]) => schema.type === 'integer')

t.test("every whole-number variable's description names both its bounds, as the schema enforces them", async t => {
  t.ok(integerVariables.length > 20, 'the schema has its whole-number variables')
  for (const [name, schema] of integerVariables) {
    t.type(schema.minimum, 'number', `${name} has a minimum`)
    t.type(schema.maximum, 'number', `${name} has a maximum`)
    t.match(schema.description ?? '', new RegExp(`\\bfrom ${schema.minimum} to ${schema.maximum}\\b`), `${name}: "${schema.description}"`)
  }
})

t.test('a value past either bound is refused with a line naming both bounds', async t => {
  for (const [name, { minimum, maximum }] of integerVariables) {
    for (const value of [maximum! + 1, minimum! - 1]) {
      t.throws(() => loadConfig({ DATABASE_URL: 'sqlite::memory:', [name]: String(value) }),
        { name: 'ConfigError', message: new RegExp(`^Invalid configuration: ${name} must be .*\\bfrom ${minimum} to ${maximum}\\b.*, got "${value}"$`) },
        `${name}=${value}`)
    }
  }
  t.throws(() => loadConfig({ DATABASE_URL: 'sqlite::memory:', SMS_HOURLY_CAP: '100000000' }),
    { message: 'Invalid configuration: SMS_HOURLY_CAP must be a whole number of SMS an hour from 1 to 10000000, got "100000000"' })
})

t.test('PHONEPASS_ADMIN_KEYS: name:secret pairs; a malformed entry, a short secret or a repeated name stops start-up without showing a secret', async t => {
  const base = { DATABASE_URL: 'sqlite::memory:' }
  const support = 's'.repeat(32)
  const backend = 'b+/='.repeat(10)
  t.same(loadConfig(base).adminKeys, [], 'no keys by default: the admin API answers as an unknown path')
  t.same(loadConfig({ ...base, PHONEPASS_ADMIN_KEYS: ` support:${support} , crm-backend.2:${backend}` }).adminKeys, [
    { name: 'support', secret: support },
    { name: 'crm-backend.2', secret: backend }
  ])
  t.same(loadConfig({ ...base, PHONEPASS_ADMIN_KEYS: `ops:${support}:with:colons` }).adminKeys, [{ name: 'ops', secret: `${support}:with:colons` }], 'the name ends at the first colon')
  const malformed = 'Invalid configuration: PHONEPASS_ADMIN_KEYS entry 2 must be name:secret, a name of 1 to 40 letters, digits, dots, dashes or underscores, e.g. support:$(openssl rand -base64 32)'
  const cases: Array<[string, string]> = [
    [`support:${support},${backend}`, malformed],
    [`support:${support},:${backend}`, malformed],
    [`support:${support},crm:`, malformed],
    [`support:${support},crm backend:${backend}`, malformed],
    [`support:${support},`, malformed],
    [`support:${support.slice(1)}`, 'Invalid configuration: PHONEPASS_ADMIN_KEYS key "support" must have a secret of at least 32 characters without spaces, e.g. from `openssl rand -base64 32`'],
    [`support:${support.slice(4)} abc`, 'Invalid configuration: PHONEPASS_ADMIN_KEYS key "support" must have a secret of at least 32 characters without spaces, e.g. from `openssl rand -base64 32`'],
    [`support:${support},support:${backend}`, 'Invalid configuration: PHONEPASS_ADMIN_KEYS names the key "support" twice; each key needs a name of its own (the audit log tells them apart by it)'],
    [`support:${support},crm:${support}`, 'Invalid configuration: PHONEPASS_ADMIN_KEYS gives the key "crm" the secret of another key; each key needs a secret of its own']
  ]
  for (const [value, line] of cases) {
    const error = t.throws(() => loadConfig({ ...base, PHONEPASS_ADMIN_KEYS: value }), { name: 'ConfigError', message: line }, value.replaceAll(support, '<support>').replaceAll(backend, '<backend>')) as Error
    t.notMatch(error.message, support.slice(0, 20), 'the message shows no secret')
    t.notMatch(error.message, backend.slice(0, 20), 'the message shows no secret')
  }
})

t.test('ADMIN_PHONES: normalised like any phone; a wrong entry stops start-up', async t => {
  const base = { DATABASE_URL: 'sqlite::memory:' }
  t.same([...loadConfig(base).adminPhones], [])
  const config = loadConfig({ ...base, ADMIN_PHONES: ' +7 912 345-67-89, 89123456780 ,+447911123456,+79123456789', TEST_PHONE_NUMBERS: '+15550100001=1234' })
  t.same([...config.adminPhones], ['+79123456789', '+79123456780', '+447911123456'], 'national numbers take PHONE_DEFAULT_COUNTRY; repeats collapse')
  t.same([...loadConfig({ ...base, ADMIN_PHONES: '+15550100001', TEST_PHONE_NUMBERS: '+15550100001=1234' }).adminPhones], ['+15550100001'], 'a test number may be an admin (a demo)')
  const cases: Array<[string, string]> = [
    ['+79123456789,not-a-phone', 'Invalid configuration: ADMIN_PHONES must list phone numbers, e.g. +79123456789,+447911123456, got "not-a-phone"'],
    ['+7912', 'Invalid configuration: ADMIN_PHONES must list phone numbers, e.g. +79123456789,+447911123456, got "+7912"'],
    ['+15550100001', 'Invalid configuration: ADMIN_PHONES must list phone numbers, e.g. +79123456789,+447911123456, got "+15550100001"']
  ]
  for (const [value, line] of cases) {
    t.throws(() => loadConfig({ ...base, ADMIN_PHONES: value }), { name: 'ConfigError', message: line }, value)
  }
})

t.test('WEB_CONCURRENCY: one process unless it says more, up to 64, and only whole numbers', async t => {
  const base = { DATABASE_URL: 'sqlite:/tmp/phonepass-config-test/phonepass.db', PHONEPASS_SECRET: 'a'.repeat(32) }
  t.equal(loadConfig(base).workers, 1, 'one process by default')
  t.equal(loadConfig({ ...base, WEB_CONCURRENCY: '4' }).workers, 4)
  t.equal(loadConfig({ ...base, WEB_CONCURRENCY: '64' }).workers, 64)
  for (const value of ['0', '65', '2.5', 'auto', '-1', '']) {
    t.throws(() => loadConfig({ ...base, WEB_CONCURRENCY: value }),
      { name: 'ConfigError', message: `Invalid configuration: WEB_CONCURRENCY must be a whole number of worker processes from 1 to 64, got ${JSON.stringify(value)}` },
      `WEB_CONCURRENCY=${JSON.stringify(value)}`)
  }
  t.throws(() => loadConfig({ DATABASE_URL: 'sqlite::memory:', WEB_CONCURRENCY: '2' }),
    { name: 'ConfigError', message: 'Invalid configuration: WEB_CONCURRENCY above 1 needs a database the workers share: DATABASE_URL=sqlite:<file> or postgres://…, not sqlite::memory:' },
    'workers each with a database of their own would split every limit')
  t.equal(loadConfig({ DATABASE_URL: 'sqlite::memory:', WEB_CONCURRENCY: '1' }).workers, 1)
})

t.test('admin access settings (issue 22): defaults, and a bad CIDR stops start-up naming the variable', async t => {
  const base = { NODE_ENV: 'test', PHONEPASS_SECRET: 'x'.repeat(40) }
  const config = loadConfig(base)
  t.equal(config.adminAccess.sessionMs, 8 * 3_600_000)
  t.equal(config.adminAccess.proofMs, 5 * 60_000)
  t.equal(config.adminAccess.allowedNetworks, undefined, 'empty: anywhere')
  const list = loadConfig({ ...base, ADMIN_ALLOWED_NETWORKS: '10.0.0.0/8, 2001:db8::/32,192.0.2.7' }).adminAccess.allowedNetworks
  t.ok(list?.check('10.200.0.1', 'ipv4'))
  t.ok(list?.check('2001:db8::1', 'ipv6'))
  t.ok(list?.check('192.0.2.7', 'ipv4'))
  t.notOk(list?.check('192.0.2.8', 'ipv4'))
  for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '2001:db8::/129']) {
    t.throws(() => loadConfig({ ...base, ADMIN_ALLOWED_NETWORKS: bad }), { message: /^Invalid configuration: ADMIN_ALLOWED_NETWORKS must list CIDR ranges/ }, bad)
  }
  t.throws(() => loadConfig({ ...base, ADMIN_SESSION_HOURS: '0' }), { message: /ADMIN_SESSION_HOURS/ })
})

t.test("a URL's password is never shown in a configuration error", async t => {
  const base = { DATABASE_URL: 'sqlite::memory:' }
  const password = 'S3cret-Passw0rd'
  const cases: Array<[Record<string, string>, string]> = [
    [{ DATABASE_URL: `mysql://phonepass:${password}@db/phonepass` }, 'Invalid configuration: DATABASE_URL must be sqlite:<file>, sqlite::memory: or postgres://user:password@host:port/database, got "mysql://***@db/phonepass"'],
    [{ DATABASE_URL: `postgres://phonepass:${password}@db:port/phonepass` }, 'Invalid configuration: DATABASE_URL must be sqlite:<file>, sqlite::memory: or postgres://user:password@host:port/database, got "postgres://phonepass:***@db:port/phonepass"'],
    [{ DATABASE_URL: `postgres://phonepass:${password}/x@[db/phonepass` }, 'Invalid configuration: DATABASE_URL must be sqlite:<file>, sqlite::memory: or postgres://user:password@host:port/database, got "postgres://phonepass:***@[db/phonepass"'],
    [{ SMS_WEBHOOK_URL: `ftp://sms:${password}@sms.example/send` }, 'Invalid configuration: SMS_WEBHOOK_URL must be an http:// or https:// URL, got "ftp://***@sms.example/send"'],
    [{ WEBHOOK_URL: `ftp://crm:${password}@crm.example/hooks` }, 'Invalid configuration: WEBHOOK_URL must be an http:// or https:// URL that receives the events, got "ftp://***@crm.example/hooks"'],
    [{ TWILIO_BASE_URL: `https://twilio:${password}@api.twilio.com/2010-04-01` }, 'Invalid configuration: TWILIO_BASE_URL must be an http(s) origin without a path, e.g. https://api.twilio.com, got "https://***@api.twilio.com/2010-04-01"']
  ]
  for (const [env, line] of cases) {
    t.throws(() => loadConfig({ ...base, ...env }), { name: 'ConfigError', message: line }, JSON.stringify(env).replaceAll(password, '<password>'))
  }
  t.ok(loadConfig({ DATABASE_URL: `postgres://phonepass:${password}@db:5432/phonepass` }), 'a well-formed URL with a password is taken as before')
})

t.test('production refuses a demo or guessable secret in any secret variable, naming the variable and never the value', async t => {
  const base = { DATABASE_URL: 'sqlite::memory:', NODE_ENV: 'production', PHONEPASS_SECRET: randomBytes(32).toString('base64') }
  const demoKey = 'postman-admin-key-0123456789abcdefghijklmnop'
  const whsec = (key: string) => `whsec_${key}`
  const good = randomBytes(32).toString('base64')
  const cases: Array<[Record<string, string>, string]> = [
    [{ PHONEPASS_ADMIN_KEYS: `postman:${demoKey}` }, 'PHONEPASS_ADMIN_KEYS key "postman" is a demo value published with phonepass; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 32`'],
    [{ PHONEPASS_ADMIN_KEYS: `support:${good},crm:${'ab'.repeat(20)}` }, 'PHONEPASS_ADMIN_KEYS key "crm" has only 2 different characters; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 32`'],
    [{ PHONEPASS_SECRET: demoKey }, 'PHONEPASS_SECRET is a demo value published with phonepass; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 32`'],
    [{ PHONEPASS_SECRET: 'a'.repeat(32) }, 'PHONEPASS_SECRET has only 1 different character; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 32`'],
    [{ PHONEPASS_SECRET: `${good},${'abcdefgh'.repeat(5)}` }, 'PHONEPASS_SECRET entry 2 repeats a shorter piece; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 32`'],
    [{ PHONEPASS_SECRET: 'abcdefghijklmnopqrstuvwxyz0123456789' }, 'PHONEPASS_SECRET is mostly runs of characters such as aaaa, abcd or 4321; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 32`'],
    [{ METRICS_TOKEN: 'zzzzzzzzzzzzzzzzzzzz' }, 'METRICS_TOKEN has only 1 different character; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 24`'],
    [{ WEBHOOK_URL: 'https://crm.example/hooks', WEBHOOK_SECRET: whsec(Buffer.alloc(32, 7).toString('base64')) }, 'WEBHOOK_SECRET has only 5 different characters; with NODE_ENV=production it must be whsec_ and a random key, e.g. whsec_$(openssl rand -base64 32)'],
    [{ SMS_WEBHOOK_SECRET: `${whsec(good)},${whsec('A'.repeat(43) + '=')}` }, 'SMS_WEBHOOK_SECRET entry 2 has only 2 different characters; with NODE_ENV=production it must be whsec_ and a random key, e.g. whsec_$(openssl rand -base64 32)'],
    [{ TWILIO_AUTH_TOKEN: '0000000000000000' }, 'TWILIO_AUTH_TOKEN has only 1 different character; with NODE_ENV=production it must be the auth token (or an API key secret) Twilio gave'],
    [{ WHATSAPP_APP_SECRET: 'abababababababababab' }, 'WHATSAPP_APP_SECRET has only 2 different characters; with NODE_ENV=production it must be the app secret Meta gave'],
    [{ WHATSAPP_VERIFY_TOKEN: 'zzzzzzzzzzzzzzzzzzzz' }, 'WHATSAPP_VERIFY_TOKEN has only 1 different character; with NODE_ENV=production it must be a random secret, e.g. from `openssl rand -base64 24`']
  ]
  for (const [env, line] of cases) {
    const error = t.throws(() => loadConfig({ ...base, ...env }), { name: 'ConfigError', message: `Invalid configuration: ${line}` }, Object.keys(env).join()) as Error
    for (const value of Object.values(env)) {
      for (const secret of value.split(',').map(entry => entry.replace(/^[a-z]+:|^whsec_/, ''))) t.notOk(error.message.includes(secret), 'the value is not shown')
    }
    t.ok(loadConfig({ ...base, ...env, NODE_ENV: 'development' }), 'development takes it')
    t.ok(loadConfig({ ...base, ...env, NODE_ENV: 'test' }), 'tests take it')
  }
})

t.test('production takes random secrets of every shape the docs suggest, from the shortest allowed up', async t => {
  const base = { DATABASE_URL: 'sqlite::memory:', NODE_ENV: 'production' }
  for (let i = 0; i < 300; i++) {
    t.doesNotThrow(() => loadConfig({
      ...base,
      PHONEPASS_SECRET: `${randomBytes(32).toString('base64')},${randomBytes(16).toString('hex')},${randomBytes(32).toString('hex')}`,
      PHONEPASS_ADMIN_KEYS: `support:${randomBytes(32).toString('base64')},crm:${randomBytes(24).toString('base64url')}`,
      METRICS_TOKEN: i % 2 === 0 ? randomBytes(8).toString('hex') : randomBytes(12).toString('base64'),
      WEBHOOK_URL: 'https://crm.example/hooks',
      WEBHOOK_SECRET: `whsec_${randomBytes(24).toString('base64')}`,
      SMS_WEBHOOK_SECRET: `whsec_${randomBytes(64).toString('base64')}`,
      TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
      WHATSAPP_APP_SECRET: randomBytes(16).toString('hex'),
      WHATSAPP_VERIFY_TOKEN: randomBytes(24).toString('base64')
    }))
    if (t.passing() === false) break
  }
  // What the docs' production set-ups start with: app.json's generator (64 hex digits), openssl's base64.
  t.ok(loadConfig({ ...base, PHONEPASS_SECRET: randomBytes(32).toString('hex'), METRICS_TOKEN: randomBytes(32).toString('hex'), TRUST_PROXY: '1' }))
})

t.test('passkeys: RP ID and origins agree, or start-up stops; in production off without an RP ID', async t => {
  const production = { DATABASE_URL: 'sqlite::memory:', NODE_ENV: 'production', PHONEPASS_SECRET: randomBytes(32).toString('base64') }
  t.equal(loadConfig(production).passkeys, undefined, 'production without PASSKEY_RP_ID: off')
  const on = loadConfig({ ...production, PASSKEY_RP_ID: 'auth.example.com', PASSKEY_ORIGINS: 'https://auth.example.com,https://app.auth.example.com,android:apk-key-hash:' + 'A'.repeat(43) })
  t.match(on.passkeys, { rpId: 'auth.example.com', anyLocalhostPort: false, adminRequired: true })
  t.match(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).passkeys, { rpId: 'localhost', anyLocalhostPort: true, adminRequired: false }, 'development: localhost, any port')
  for (const [env, line] of [
    [{ PASSKEY_RP_ID: 'auth.example.com', PASSKEY_ORIGINS: 'https://evil.example' }, 'Invalid configuration: PASSKEY_ORIGINS has "https://evil.example", which is not an https origin of PASSKEY_RP_ID "auth.example.com" or a subdomain of it'],
    [{ PASSKEY_RP_ID: 'auth.example.com', PASSKEY_ORIGINS: 'http://auth.example.com' }, 'Invalid configuration: PASSKEY_ORIGINS has "http://auth.example.com", which is not an https origin of PASSKEY_RP_ID "auth.example.com" or a subdomain of it'],
    [{ PASSKEY_RP_ID: 'auth.example.com' }, 'Invalid configuration: PASSKEY_ORIGINS is required with PASSKEY_RP_ID when NODE_ENV=production, e.g. https://auth.example.com'],
    [{ PASSKEY_RP_ID: 'localhost', PASSKEY_ORIGINS: 'http://localhost:3000' }, 'Invalid configuration: PASSKEY_RP_ID must be the site\'s domain with NODE_ENV=production, not localhost'],
    [{ PASSKEY_ORIGINS: 'https://auth.example.com' }, 'Invalid configuration: PASSKEY_ORIGINS needs PASSKEY_RP_ID, the domain the passkeys are bound to, e.g. auth.example.com'],
    [{ ADMIN_PHONES: '+79123456789' }, 'Invalid configuration: ADMIN_PHONES with NODE_ENV=production asks each admin for a passkey (ADMIN_PASSKEY=required): set PASSKEY_RP_ID and PASSKEY_ORIGINS, or ADMIN_PASSKEY=optional']
  ] as const) {
    t.throws(() => loadConfig({ ...production, ...env }), { name: 'ConfigError', message: line }, line)
  }
  t.equal(loadConfig({ ...production, ADMIN_PHONES: '+79123456789', ADMIN_PASSKEY: 'optional' }).passkeys, undefined, 'an operator may relax the admin\'s passkey')
})
