import Fastify from 'fastify'

// The limit of this machine for a fastify route: a constant JSON object, nothing else.
const app = Fastify({ logger: false })
app.get('/', async () => ({ hello: 'world' }))
await app.listen({ port: Number(process.env.PORT ?? 3100), host: '127.0.0.1' })
process.send?.('ready')
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
