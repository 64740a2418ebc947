import type { FastifyBaseLogger } from 'fastify'
import { maskPhone } from '../domain/phone.js'
import type { SmsSender } from './sms-sender.js'

/**
 * Development default: the code goes to the log instead of a phone. `revealCodes` false (in
 * production unless SMS_CONSOLE_IN_PRODUCTION=true) writes the masked phone and no code: a
 * production log is read by more people, and kept longer, than a developer's terminal.
 */
export function createConsoleSender (logger: FastifyBaseLogger, { revealCodes = true }: { revealCodes?: boolean } = {}): SmsSender {
  return {
    name: 'console',
    async send ({ to, code, body }) {
      if (revealCodes) logger.info({ sms: { to, code } }, `SMS to ${to}: ${body}`)
      else logger.warn({ phone: maskPhone(to), provider: 'console' }, 'SMS not sent and its code not logged: the console provider in production (SMS_CONSOLE_IN_PRODUCTION is not true)')
    }
  }
}
