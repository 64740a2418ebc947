import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import multipart from '@fastify/multipart'
import { DomainError } from '../domain/errors.js'

/** The bodies the app reads: fastify's JSON, @fastify/formbody's forms, and multipart here. */
export const acceptedBodyTypes = ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'] as const

// Every field the service reads is under 300 characters; no route takes a file (a file part
// ends the request with 413).
const limits = { fields: 20, fieldSize: 1024, files: 0, parts: 20, headerPairs: 20 }

/**
 * DRF took multipart/form-data as well as JSON and forms (apps that send FormData): its text
 * fields become the body the route validates, as a form's do, a repeated name a list. A body
 * busboy cannot read is the sender's fault: 400, not the 500 its plain errors would give.
 */
async function readMultipartFields (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (!request.isMultipart()) return
  // busboy limits the parts but not the whole body: text around them, or past a field's size,
  // is read and dropped however long it is. The body limit every other parser keeps is kept
  // here: a declared length over it is refused before a byte is read, and a chunked body is
  // counted and its connection cut once it passes the limit.
  const bodyLimit = request.server.initialConfig.bodyLimit ?? 1_048_576
  if (Number(request.headers['content-length'] ?? 0) > bodyLimit) {
    reply.header('connection', 'close')
    throw new DomainError('payload_too_large')
  }
  let received = 0
  const count = (chunk: Buffer): void => {
    received += chunk.length
    if (received > bodyLimit) request.raw.destroy()
  }
  request.raw.on('data', count)
  const fields: Record<string, unknown> = {}
  try {
    for await (const part of request.parts({ limits })) {
      if (part.type !== 'field') continue
      const earlier = fields[part.fieldname]
      fields[part.fieldname] = earlier === undefined ? part.value : [earlier, part.value].flat()
    }
  } catch (error) {
    if (received > bodyLimit) throw new DomainError('payload_too_large')
    // The plugin's own refusals (a limit, a prototype key) carry their status; busboy's do not.
    if (typeof (error as { statusCode?: unknown }).statusCode === 'number') throw error
    throw new DomainError('parse_error')
  } finally {
    request.raw.off('data', count)
  }
  request.body = fields
}

export async function registerMultipartForms (app: FastifyInstance): Promise<void> {
  await app.register(multipart, { limits })
  app.addHook('preValidation', readMultipartFields)
}
