import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createDatabase, type Db } from '../../src/store/database.js'
import { bearer, manualClock, post } from '../helpers/app.js'
import { startSmsSink, type SmsSink } from '../helpers/sms-sink.js'

const oldSecret = 'old-secret-0123456789-0123456789-abcdef'
const newSecret = 'new-secret-9876543210-9876543210-fedcba'
const phone = '+79123456789'

/** Apps that share one SQLite file, as the old and the new deployment do during a rotation. */
async function setup (t: { teardown: (fn: () => unknown) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'phonepass-rotation-'))
  const db: Db = createDatabase(`sqlite:${join(dir, 'phonepass.db')}`)
  const sms: SmsSink = await startSmsSink()
  const clock = manualClock()
  const apps: Array<{ close: () => Promise<unknown> }> = []
  t.teardown(async () => {
    for (const app of apps) await app.close()
    await db.destroy()
    await sms.close()
    rmSync(dir, { recursive: true, force: true })
  })
  // HS256, whose key is the secret's: the secret's rotation is the key's. With an asymmetric
  // algorithm the stored keys outlive it (test/api/key-rotation.test.ts).
  async function appWith (secret: string) {
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'sqlite::memory:', PHONEPASS_SECRET: secret, SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: sms.url, LOG_LEVEL: 'silent', JWT_ALGORITHM: 'HS256' })
    const app = await buildApp(config, { db, clock })
    apps.push(app)
    return app
  }
  return { appWith, sms, clock }
}

t.test('adding a new secret in front signs no one out: access, refresh and a pending code stay valid', async t => {
  const { appWith, sms, clock } = await setup(t)
  const before = await appWith(oldSecret)
  await post(before, '/api/users/register/', { phone })
  const signedIn = (await post(before, '/api/users/verify_code/', { phone, auth_code: sms.lastCode(phone) })).json<{ access: string, refresh: string }>()
  // A code sent before the rotation, typed in after it.
  clock.advance(61_000)
  await post(before, '/api/users/register/', { phone: '+79123456780' })
  const pendingCode = sms.lastCode('+79123456780')

  const rotated = await appWith(`${newSecret},${oldSecret}`)
  const me = await rotated.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(signedIn.access) })
  t.equal(me.statusCode, 200, 'an access token signed with the old secret is accepted')
  const refreshed = await post(rotated, '/api/token/refresh/', { refresh: signedIn.refresh })
  t.equal(refreshed.statusCode, 200, 'the refresh token still works')
  const second = await post(rotated, '/api/users/verify_code/', { phone: '+79123456780', auth_code: pendingCode })
  t.equal(second.statusCode, 200, 'a code hashed with the old secret still verifies')

  // New tokens are signed with the new secret: an app that knows only the old one refuses them,
  // an app that knows only the new one (the old secret retired) accepts them.
  const newAccess = refreshed.json<{ access: string }>().access
  t.equal((await (await appWith(oldSecret)).inject({ method: 'GET', url: '/api/users/me/', headers: bearer(newAccess) })).statusCode, 401)
  const retired = await appWith(newSecret)
  t.equal((await retired.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(newAccess) })).statusCode, 200)
  t.equal((await retired.inject({ method: 'GET', url: '/api/users/me/', headers: bearer(signedIn.access) })).statusCode, 401, 'once the old secret is removed its tokens stop working')
  t.equal((await post(retired, '/api/token/refresh/', { refresh: refreshed.json<{ refresh: string }>().refresh })).statusCode, 200, 'refresh tokens are opaque and stored hashed: they survive retiring the old secret')
})

t.test('a code sent after the rotation is hashed with the new secret', async t => {
  const { appWith, sms } = await setup(t)
  const rotated = await appWith(`${newSecret},${oldSecret}`)
  await post(rotated, '/api/users/register/', { phone })
  const code = sms.lastCode(phone)
  const oldOnly = await appWith(oldSecret)
  t.equal((await post(oldOnly, '/api/users/verify_code/', { phone, auth_code: code })).statusCode, 400, 'the old secret alone cannot check it')
  const newOnly = await appWith(newSecret)
  t.equal((await post(newOnly, '/api/users/verify_code/', { phone, auth_code: code })).statusCode, 200)
})
