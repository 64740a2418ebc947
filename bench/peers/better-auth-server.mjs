// better-auth with its phone-number plugin on better-sqlite3, as its docs set it up, sending
// codes to the same SMS sink as phonepass. Rate limiting is off, as the load comes from one
// address (phonepass's per-address limits are raised for the bench too).
import { createServer } from 'node:http'
import Database from 'better-sqlite3'
import { betterAuth } from 'better-auth'
import { getMigrations } from 'better-auth/db/migration'
import { toNodeHandler } from 'better-auth/node'
import { bearer, phoneNumber } from 'better-auth/plugins'

const port = Number(process.env.PORT ?? 3400)
const sink = process.env.SMS_WEBHOOK_URL
const database = new Database(process.env.DATABASE_FILE ?? ':memory:')
database.pragma('journal_mode = WAL')
database.pragma('synchronous = NORMAL')

const options = {
  database,
  secret: process.env.BETTER_AUTH_SECRET,
  baseURL: `http://127.0.0.1:${port}`,
  logger: { level: 'error' },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  plugins: [
    bearer(),
    phoneNumber({
      sendOTP: async ({ phoneNumber: to, code }) => {
        await fetch(sink, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to, body: `Your code: ${code}` }) })
      },
      signUpOnVerification: {
        getTempEmail: phone => `${phone.replace('+', '')}@bench.example`,
        getTempName: phone => phone
      }
    })
  ]
}
const { runMigrations } = await getMigrations(options)
await runMigrations()
const auth = betterAuth(options)
const handler = toNodeHandler(auth)
const server = createServer((request, response) => {
  if (request.url === '/healthz') return response.writeHead(200).end('ok')
  return handler(request, response)
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => process.send?.('ready'))
process.on('SIGTERM', () => { server.close(); process.exit(0) })
