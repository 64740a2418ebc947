import { createRequire } from 'node:module'
import pino, { type Logger } from 'pino'
import type { Config } from './config.js'
import { spansRecorded, traceIdsForLog } from './ops/spans.js'
import { redactCredentials } from './redact.js'

/** pino-pretty is a devDependency: used in development when it is installed, never in production. */
function prettyTransport (nodeEnv: string | undefined): pino.TransportSingleOptions | undefined {
  if (nodeEnv !== 'development') return undefined
  try {
    createRequire(import.meta.url).resolve('pino-pretty')
  } catch {
    return undefined
  }
  return { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } }
}

type LoggerConfig = Pick<Config, 'logLevel'> & Partial<Pick<Config, 'nodeEnv'>>

/**
 * JSON lines; anything that grants access is cut out before it is written: by path (headers,
 * tokens), and a URL's password wherever it is in the line, since errors from a database
 * driver or a URL parser may carry the whole URL in their message, stack or own fields.
 */
export function loggerOptions (config: LoggerConfig): pino.LoggerOptions {
  const transport = prettyTransport(config.nodeEnv)
  return {
    level: config.logLevel,
    ...(transport === undefined ? {} : { transport }),
    hooks: { streamWrite: redactCredentials },
    // With traces on, each line written inside a span carries its trace and span ids.
    ...(spansRecorded() ? { mixin: traceIdsForLog } : {}),
    redact: {
      paths: [
        'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]',
        'headers.authorization', 'headers.cookie', '*.refresh', '*.access', '*.auth_code', '*.token', '*.device_token'
      ],
      censor: '[redacted]'
    }
  }
}

/** `destination` lets a test read the lines; a transport (pretty) cannot take one. */
export function createLogger (config: LoggerConfig, destination?: pino.DestinationStream): Logger {
  const options = loggerOptions(config)
  return destination === undefined ? pino(options) : pino({ ...options, transport: undefined }, destination)
}
