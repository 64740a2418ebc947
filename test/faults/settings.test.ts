import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { testSecret } from '../helpers/app.js'

const load = (env: Record<string, string>) => loadConfig({ PHONEPASS_SECRET: testSecret, DATABASE_URL: 'sqlite::memory:', ...env })

t.test('the fault bounds: defaults, values, and a wrong value named', async t => {
  t.match(load({}), { databaseLockTimeoutMs: 2000, databaseStatementTimeoutMs: 10_000, sms: { maxInFlight: 100 } })
  t.match(load({ DATABASE_LOCK_TIMEOUT_MS: '250', DATABASE_STATEMENT_TIMEOUT_MS: '3000', SMS_MAX_IN_FLIGHT: '20' }),
    { databaseLockTimeoutMs: 250, databaseStatementTimeoutMs: 3000, sms: { maxInFlight: 20 } })
  t.throws(() => load({ DATABASE_LOCK_TIMEOUT_MS: '0' }), new ConfigError('Invalid configuration: DATABASE_LOCK_TIMEOUT_MS must be milliseconds from 10 to 60000, got "0"'))
  t.throws(() => load({ DATABASE_STATEMENT_TIMEOUT_MS: 'soon' }), new ConfigError('Invalid configuration: DATABASE_STATEMENT_TIMEOUT_MS must be milliseconds from 100 to 600000, got "soon"'))
  t.throws(() => load({ SMS_MAX_IN_FLIGHT: '0' }), new ConfigError('Invalid configuration: SMS_MAX_IN_FLIGHT must be a whole number of SMS sends at once from 1 to 10000, got "0"'))
})
