import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { RandomInt } from '../domain/codes.js'
import type { CodeDelivery } from '../channels/delivery.js'
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
  /** Codes go out through it: by the channels of the number's country, falling back in order (issue 25). */
  delivery: CodeDelivery
  logger: FastifyBaseLogger
}

/** Who is asking: kept with codes and sessions for the person's list and for limits. */
export interface ClientInfo {
  ip: string
  userAgent?: string | undefined
  /**
   * The device token issued at an earlier sign-in (API body field or web cookie). Valid for
   * the phone, it gives this device its own budget of wrong codes, so an attacker spending
   * the phone's budget does not lock the owner out.
   */
  deviceToken?: string | undefined
  /** A solved fraud-guard challenge (ALTCHA's base64 payload), where a send to a suspect destination asked for one. */
  challenge?: string | undefined
}
