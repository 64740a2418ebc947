import type { FastifyInstance } from 'fastify'

/**
 * Node's server.close() ends idle keep-alive connections only at the moment it is called: a
 * connection whose request was in flight stays open after its answer, until the keep-alive
 * timeout (72 s in fastify), and holds the shutdown past its grace period. Answers written
 * while closing therefore say `Connection: close`, so each such connection ends with its answer.
 */
export function closeConnectionsWhenClosing (app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
}
