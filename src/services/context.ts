import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { RandomInt } from '../domain/codes.js'
import type { SmsSender } from '../sms/sms-sender.js'
import type { Db } from '../store/database.js'
import type { AccessTokens } from './access-tokens.js'
import type { Clock } from './clock.js'
import type { Keys } from './keys.js'

/** What the services are given: everything from outside comes in here, nothing is imported. */
export interface ServiceContext {
  db: Db
  config: Config
  clock: Clock
  random: RandomInt
  keys: Keys
  accessTokens: AccessTokens
  sms: SmsSender
  logger: FastifyBaseLogger
}

/** Who is asking: kept with codes and sessions for the person's list and for limits. */
export interface ClientInfo {
  ip: string
  userAgent?: string | undefined
}
