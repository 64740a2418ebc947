import pino, { type Logger } from 'pino'
import type { Config } from './config.js'

/** JSON lines; anything that grants access is cut out before it is written. */
export function createLogger (config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', '*.refresh', '*.access', '*.auth_code', '*.device_token'],
      censor: '[redacted]'
    }
  })
}
