import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'

export async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { schema: { hide: true } }, async (request, reply) => {
    try {
      await sql`select 1`.execute(app.db)
      return { status: 'ok' }
    } catch (error) {
      request.log.warn({ err: error }, 'database not ready')
      return await reply.code(503).header('retry-after', '2').send({ status: 'unavailable' })
    }
  })
}
