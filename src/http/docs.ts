import { createReadStream } from 'node:fs'
import { createRequire } from 'node:module'
import type { FastifyInstance } from 'fastify'
import type { SwaggerTransformObject } from '@fastify/swagger'
import { acceptedBodyTypes } from './multipart-forms.js'
import { securityHeaders } from './security-headers.js'
import { webhooksSection } from './webhook-docs.js'
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

interface OpenApiResponse {
  description?: string
  headers?: Record<string, unknown>
}

interface OpenApiOperation {
  requestBody?: { required?: boolean, content: Record<string, { schema?: { nullable?: boolean } }> }
  responses?: Record<string, OpenApiResponse>
}

const responseDescriptions: Record<string, string> = {
  200: 'Done',
  204: 'Done; no body',
  400: 'Refused: `detail` says why, `errors` per field',
  401: 'No valid token: `not_authenticated` when none was sent, `token_not_valid` otherwise',
  403: 'A browser\'s form, multipart or text post from another site (`cross_site_request`); see CORS_ORIGINS',
  404: 'Not found',
  409: 'In conflict with what is stored',
  413: 'The body is too large',
  415: 'The body is neither JSON nor a form',
  429: 'Too many tries: wait Retry-After seconds',
  503: 'Unavailable for now: wait Retry-After seconds'
}

const retryAfterHeader = { 'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } } }

/**
 * What the generated document cannot learn from the route schemas alone: what each status
 * means (not "Default Response"), that 429 and 503 carry Retry-After, that a write may be
 * refused as cross-site (403), that every body may
 * also come as a form (formbody, multipart-forms.ts), that a body whose schema allows null may be left out,
 * and the events sent to WEBHOOK_URL (`x-webhooks`, webhook-docs.ts).
 */
export const completeOpenApiDocument: SwaggerTransformObject = (document) => {
  if (!('openapiObject' in document)) return document.swaggerObject
  const { openapiObject } = document
  for (const methods of Object.values(openapiObject.paths ?? {}) as Array<Record<string, OpenApiOperation>>) {
    for (const operation of Object.values(methods)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (response.description === undefined || response.description === 'Default Response') response.description = responseDescriptions[status] ?? 'See detail'
        if (status === '429' || status === '503') response.headers = { ...response.headers, ...retryAfterHeader }
      }
      const body = operation.requestBody
      const json = body?.content['application/json']
      if (body === undefined || json === undefined) continue
      // Every write may be refused as cross-site (http/api/cross-origin.ts), with the Error body.
      const refused = operation.responses?.['400']
      if (operation.responses !== undefined && refused !== undefined) operation.responses['403'] = { ...refused, description: responseDescriptions[403] }
      for (const type of acceptedBodyTypes) body.content[type] = json
      if (json.schema?.nullable === true) body.required = false
    }
  }
  const document30 = openapiObject as typeof openapiObject & { 'x-webhooks'?: Record<string, unknown> }
  document30['x-webhooks'] = webhooksSection()
  openapiObject.tags = [...openapiObject.tags ?? [], { name: 'webhooks', description: 'Events phonepass POSTs to WEBHOOK_URL, signed by the Standard Webhooks scheme' }]
  return openapiObject
}

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
