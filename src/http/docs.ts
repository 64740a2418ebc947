import { createReadStream } from 'node:fs'
import { createRequire } from 'node:module'
import type { FastifyInstance } from 'fastify'
import { securityHeaders } from './security-headers.js'
import { appSecurityOptions } from './web/plugin.js'

const redocBundle = createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js')

const redocPage = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>phonepass API</title>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="/redoc/redoc.standalone.js"></script>
</body>
</html>
`

// ReDoc's bundle injects its styles and starts a web worker from a blob: the strict CSP of the
// pages would leave it blank, so its page gets its own, still with no script from elsewhere.
const redocCsp = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'", 'data:'],
    workerSrc: ["'self'", 'blob:'],
    connectSrc: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    objectSrc: ["'none'"]
  }
}
const redocHeaders = securityHeaders({ ...appSecurityOptions, contentSecurityPolicy: redocCsp })

/** /openapi.json (generated from the route schemas) and ReDoc, served from this service. */
export async function docsRoutes (app: FastifyInstance): Promise<void> {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  app.get('/redoc/', { schema: { hide: true }, config: { securityHeaders: redocHeaders } }, async (_request, reply) => {
    return await reply.type('text/html; charset=utf-8').send(redocPage)
  })
  app.get('/redoc/redoc.standalone.js', { schema: { hide: true } }, async (_request, reply) => {
    return await reply
      .type('application/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=86400')
      .send(createReadStream(redocBundle))
  })
}
