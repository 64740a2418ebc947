import type { FastifyBaseLogger } from 'fastify'
import type { SmsSender } from './sms-sender.js'

/** Development default: the code goes to the log instead of a phone. */
export function createConsoleSender (logger: FastifyBaseLogger): SmsSender {
  return {
    name: 'console',
    async send ({ to, code, body }) {
      logger.info({ sms: { to, code } }, `SMS to ${to}: ${body}`)
    }
  }
}
