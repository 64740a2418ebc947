import type { FastifyInstance } from 'fastify'
import { twilioCallbackPath, whatsAppCallbackPath } from '../channels/delivery.js'
import { answerJsonError } from './error-mapping.js'

/** One value per field, as Twilio posts them (a repeated field would not be Twilio's). */
function formFields (body: unknown): Record<string, string> {
  const fields: Record<string, string> = {}
  if (typeof body !== 'object' || body === null) return fields
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === 'string') fields[name] = value
  }
  return fields
}

/**
 * Delivery receipts from the providers (issue 25): thin, the signature checks and what a
 * receipt changes live in services/channel-service.ts. Not under /api: no CORS, no cookies, no
 * CSRF; a provider's signature is the only credential. A refusal changes nothing.
 */
export async function providerCallbackRoutes (app: FastifyInstance): Promise<void> {
  const { channels } = app.services
  app.setErrorHandler(answerJsonError)

  // Twilio posts application/x-www-form-urlencoded (the root's form parser reads it).
  app.post(twilioCallbackPath, async (request, reply) => {
    const signature = request.headers['x-twilio-signature']
    await channels.receiveTwilio(formFields(request.body), typeof signature === 'string' ? signature : undefined)
    return await reply.code(204).send()
  })

  // The app's webhook set-up: Meta calls with hub.mode, hub.verify_token and hub.challenge.
  app.get(whatsAppCallbackPath, async (request, reply) => {
    const query = request.query as Record<string, unknown>
    const text = (name: string): string | undefined => typeof query[name] === 'string' ? query[name] : undefined
    const challenge = channels.verifyWhatsApp(text('hub.mode'), text('hub.verify_token'), text('hub.challenge'))
    return await reply.type('text/plain; charset=utf-8').send(challenge)
  })

  // The signature covers the body's very bytes: this scope reads JSON as a Buffer.
  await app.register(async (raw) => {
    raw.removeAllContentTypeParsers()
    raw.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: 256 * 1024 }, (_request, body, done) => { done(null, body) })
    raw.post(whatsAppCallbackPath, async (request, reply) => {
      const signature = request.headers['x-hub-signature-256']
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      await channels.receiveWhatsApp(body, typeof signature === 'string' ? signature : undefined)
      return await reply.code(200).send()
    })
  })
}
