import type { FastifyRequest } from 'fastify'

/**
 * For routes whose body is optional: apps that set Content-Type: application/json on every
 * request send an empty one, which fastify refuses as JSON (DRF read it as no data): such a
 * body is none.
 */
export async function ignoreTypeOfEmptyBody (request: FastifyRequest): Promise<void> {
  const { 'content-length': length, 'transfer-encoding': encoding } = request.headers
  if ((length === undefined || length === '0') && encoding === undefined) delete request.headers['content-type']
}
