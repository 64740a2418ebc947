import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import formbody from '@fastify/formbody'
import swagger from '@fastify/swagger'
import type { Config } from './config.js'
import { cryptoRandomInt, type RandomInt } from './domain/codes.js'
import { schemaCompilersOnFirstUse } from './http/schema-compilers.js'
import { apiRoutes } from './http/api/routes.js'
import { completeOpenApiDocument, docsRoutes } from './http/docs.js'
import { registerMultipartForms } from './http/multipart-forms.js'
import { answerJsonError } from './http/error-mapping.js'
import { answerUnroutable } from './http/framework-errors.js'
import { healthRoutes } from './http/health.js'
import { trustFunction } from './http/trust-proxy.js'
import { requestIdOf, serverRequestIdOf } from './http/request-id.js'
import { jwksRoutes } from './http/jwks.js'
import { appLinkRoutes } from './http/app-links.js'
import { webFace } from './http/web/plugin.js'
import { createAccessTokens } from './services/access-tokens.js'
import { createAuthService, type Authenticated, type AuthService } from './services/auth-service.js'
import { systemClock, type Clock } from './services/clock.js'
import { deriveKeys } from './services/keys.js'
import { createSigningKeys, type SigningKeys } from './services/signing-keys.js'
import { watchSigningKeyChanges } from './services/signing-key-changes.js'
import { createProfileService, type ProfileService } from './services/profile-service.js'
import { createAdminService, type AdminService } from './services/admin-service.js'
import { createFraudAdmin, type FraudAdmin } from './services/fraud-admin.js'
import { createPasskeyService, type PasskeyService } from './services/passkey-service.js'
import { createConsoleSender } from './sms/console-sender.js'
import type { SmsSender } from './sms/sms-sender.js'
import { createWebhookSender } from './sms/webhook-sender.js'
import { limitInFlight } from './sms/in-flight-limit.js'
import { createTwilioSender } from './sms/twilio-sender.js'
import { createRetention } from './services/retention.js'
import { createDatabase, type Db } from './store/database.js'
import { createLogger } from './logger.js'
import { closeConnectionsWhenClosing } from './ops/shutdown.js'
import { consoleRevealsCodes, databaseOptions, metricsExposure, migrateAndAnnounce, signingKeyOptions } from './ops/start-up.js'
import { countPasskeySignIns, countRefusals, countSignIns, createMetrics, instrumentSmsSender, installMetrics, watchWebhookBacklog, type Metrics } from './ops/metrics.js'
import { createWebhookDispatcher, type WebhookDispatcher } from './services/webhooks.js'
import { traceSmsSender } from './ops/spans.js'
import type { Tracing } from './ops/tracing.js'
import { createCodeDelivery, smsChannel } from './channels/delivery.js'
import { createWhatsAppSender } from './channels/whatsapp-sender.js'
import { createVoiceSender } from './channels/voice-sender.js'
import { createChannelService, type ChannelService } from './services/channel-service.js'
import { providerCallbackRoutes } from './http/provider-callbacks.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    services: { auth: AuthService, profile: ProfileService, admin: AdminService, fraudAdmin: FraudAdmin, passkeys: PasskeyService, channels: ChannelService }
    metrics: Metrics
    signingKeys: SigningKeys
    /** The outbox's dispatcher; undefined when WEBHOOK_URL is not set. */
    webhooks: WebhookDispatcher | undefined
  }
  interface FastifyRequest {
    auth?: Authenticated
  }
}

/** What a caller may swap: tests pass a clock, a database, an SMS provider. */
export interface AppDeps {
  db?: Db
  clock?: Clock
  random?: RandomInt
  sms?: SmsSender
  logger?: FastifyBaseLogger
  /** How often the signing keys are read again (a rotation made through another instance). */
  keyReloadMs?: number
  /** SQLite: how often a stamp of the signing keys is read, to hear of a change at once. */
  keyStampPollMs?: number
  /** false: no webhook timer; the test drives app.webhooks.deliverDue() on its clock. */
  dispatchWebhooks?: boolean
  /**
   * true: the migrations ran and the start-up lines were written before this app was built (a
   * cluster worker: its primary did both once for all workers, ops/cluster.ts).
   */
  prepared?: boolean
  /** The app's metrics, made by the caller (a cluster worker shares them with its primary). */
  metrics?: Metrics
  /** What GET /metrics answers; this app's own registry when not given (a cluster worker: every worker's sum). */
  scrapeMetrics?: () => Promise<string>
  /** OpenTelemetry, started by the caller before anything opened the database (ops/tracing.ts). */
  tracing?: Tracing
}

function createSmsSender (config: Config, logger: FastifyBaseLogger): SmsSender {
  if (config.sms.provider === 'webhook' && config.sms.webhookUrl !== undefined) {
    return createWebhookSender(config.sms.webhookUrl, config.sms.timeoutMs, config.sms.webhookSecrets)
  }
  if (config.sms.provider === 'twilio' && config.sms.twilio !== undefined) {
    return createTwilioSender(config.sms.twilio, config.sms.timeoutMs, logger)
  }
  return createConsoleSender(logger, { revealCodes: consoleRevealsCodes(config) })
}

const retentionSweepIntervalMs = 5 * 60_000
// Well under the publish lead less the JWKS max-age (600 − 300 s at the least).
const keyReloadIntervalMs = 30_000
// SQLite: a revocation by the CLI or another worker is seen within this (two counts of a tiny table).
const keyStampPollMs = 500

/** Builds the app on a migrated database. Never listens: main.ts does, tests inject. */
export async function buildApp (config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger ?? createLogger(config),
    // Always a function (or false), never fastify's own reading of a number: see trust-proxy.ts.
    trustProxy: trustFunction(config.trustProxy),
    // X-Request-Id is taken only when short and plain (requestIdOf); fastify would take any.
    requestIdHeader: false,
    genReqId: requestIdOf,
    // Fastify's two lines per request are replaced by the one written in onResponse below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors: answerUnroutable,
    // Scalars are coerced (forms and query strings carry only text); a list is not taken for
    // one value, as DRF did not take it.
    ajv: { customOptions: { allErrors: true, coerceTypes: true, removeAdditional: true, useDefaults: true } },
    // Outside production a schema is compiled when a request first needs it (schema-compilers.ts).
    ...(config.nodeEnv === 'production' ? {} : { schemaController: schemaCompilersOnFirstUse })
  })

  // Each face sets its own; this one answers what neither handles (see answerJsonError).
  app.setErrorHandler(answerJsonError)
  // First, so that every route and hook registered after it runs inside the request's span.
  if (deps.tracing !== undefined) await app.register(deps.tracing.plugin)

  const ownsDatabase = deps.db === undefined
  const db = deps.db ?? createDatabase(config.databaseUrl, databaseOptions(config))
  app.decorate('db', db)
  if (ownsDatabase) app.addHook('onClose', async () => { await db.destroy() })
  if (deps.prepared !== true) await migrateAndAnnounce(config, db, app.log)

  const metrics = deps.metrics ?? createMetrics()
  app.decorate('metrics', metrics)
  const clock = deps.clock ?? systemClock
  const keys = deriveKeys(config.secrets)
  const signingKeys = createSigningKeys({ db, clock, keys, logger: app.log }, signingKeyOptions(config))
  // A revocation must reach this process at once, not at the next re-read (docs/ARCHITECTURE.md).
  // The watch starts before the keys are first read, so a change made meanwhile is heard too.
  const keyChanges = await watchSigningKeyChanges({ db, logger: app.log }, {
    databaseUrl: config.databaseUrl,
    pgSslMode: databaseOptions(config).pgSslMode,
    connectTimeoutMs: databaseOptions(config).postgresConnectTimeoutMs,
    stampPollMs: deps.keyStampPollMs ?? keyStampPollMs
  }, async () => { await signingKeys.reload() })
  app.addHook('preClose', async () => { await keyChanges.close() })
  try {
    await signingKeys.start()
  } catch (error) {
    await keyChanges.close()
    throw error
  }
  app.decorate('signingKeys', signingKeys)
  const keyReload = setInterval(() => {
    signingKeys.reload().catch((err: unknown) => { app.log.warn({ err }, 'could not read the signing keys again') })
  }, deps.keyReloadMs ?? keyReloadIntervalMs).unref()
  app.addHook('onClose', async () => { clearInterval(keyReload) })
  const sms = instrumentSmsSender(limitInFlight(traceSmsSender(deps.sms ?? createSmsSender(config, app.log)), config.sms.maxInFlight), metrics)
  const { whatsapp, voice, publicUrl } = config.channels
  // Every channel's provider; the order per country picks among them (channels/settings.ts).
  const delivery = createCodeDelivery({
    db,
    clock,
    logger: app.log,
    settings: config.channels,
    metrics,
    senders: {
      sms: smsChannel(sms, publicUrl),
      ...(whatsapp === undefined ? {} : { whatsapp: createWhatsAppSender(whatsapp, config.sms.timeoutMs) }),
      ...(voice === undefined ? {} : { voice: createVoiceSender(voice, config.sms.timeoutMs) })
    }
  })
  const context = {
    db,
    config,
    clock,
    random: deps.random ?? cryptoRandomInt,
    keys,
    accessTokens: createAccessTokens(signingKeys, { ttlSeconds: config.accessTokenTtlSeconds, issuer: config.jwt.issuer, audience: config.jwt.audience }, clock),
    sms,
    delivery,
    logger: app.log
  }
  app.decorate('services', {
    auth: countRefusals(countSignIns(createAuthService(context), metrics), metrics),
    profile: countRefusals(createProfileService(context), metrics),
    admin: createAdminService(context),
    fraudAdmin: createFraudAdmin(context),
    passkeys: countRefusals(countPasskeySignIns(createPasskeyService(context), metrics), metrics),
    channels: createChannelService(context, metrics)
  })
  app.addHook('onClose', async () => { await context.sms.close?.() })

  // What is past its keeping (services/retention.ts) is deleted every few minutes, in batches;
  // any number of instances may do it.
  const retention = createRetention(context)
  const cleanup = setInterval(() => {
    retention.sweep().then(swept => {
      if (Object.values(swept).some(count => count > 0)) app.log.info({ swept }, 'retention: rows past their keeping deleted')
    }).catch((err: unknown) => { app.log.warn({ err }, 'retention sweep failed; the next one tries again') })
  }, retentionSweepIntervalMs).unref()
  app.addHook('onClose', async () => { clearInterval(cleanup) })

  // Events leave from the outbox outside requests, in every instance (docs/ARCHITECTURE.md, "Events").
  const webhooks = config.webhooks === undefined
    ? undefined
    : createWebhookDispatcher({ db, webhooks: config.webhooks, clock, logger: app.log, onAttempt: result => { metrics.webhookDeliveries.inc({ result }) } })
  app.decorate('webhooks', webhooks)
  if (webhooks !== undefined) {
    watchWebhookBacklog(metrics, webhooks.backlog, clock.now)
    if (deps.dispatchWebhooks !== false) app.addHook('onReady', async () => { webhooks.start() })
    // Before the database closes (onClose): the round in flight records its outcomes.
    app.addHook('preClose', async () => { await webhooks.stop() })
  }

  // One log line per request, with its id; the id also goes back to the caller.
  app.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id) })
  app.addHook('onResponse', async (request, reply) => {
    // serverId: ours, when the caller sent an X-Request-Id of its own (the audit log keeps both).
    const serverId = serverRequestIdOf(request)
    request.log.info({ method: request.method, url: request.routeOptions.url ?? request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime), ...(serverId === request.id ? {} : { serverId }) }, 'request')
  })

  installMetrics(app, { metrics, token: config.metricsToken, exposed: metricsExposure(config) !== 'off', scrape: deps.scrapeMetrics })
  closeConnectionsWhenClosing(app)
  await app.register(formbody)
  await registerMultipartForms(app)
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'phonepass API',
        version: '1.0.0',
        description: 'Passwordless sign-in by phone: a one-time code by SMS, access and refresh tokens, invite codes. Paths and fields are those of the Django REST Framework service it replaces.'
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          adminKey: { type: 'http', scheme: 'bearer', description: 'The secret of one of PHONEPASS_ADMIN_KEYS (name:secret pairs; send the secret only). A missing, wrong or revoked key gets the answer of an unknown path: 404 not_found.' }
        }
      },
      tags: [
        { name: 'auth', description: 'Codes, sign-in, tokens' },
        { name: 'passkeys', description: 'Passkeys (WebAuthn) after the first phone sign-in: add one, then sign in without an SMS; list, rename, remove' },
        { name: 'profile', description: 'The signed-in user and invites' },
        { name: 'admin', description: 'For support and other backends, with an admin key: find people, look, end sessions, block, delete, clear limits, the SMS spend, the audit log' }
      ]
    },
    // Only the JSON API (its routes have tags) is documented; pages and probes are not.
    hideUntagged: true,
    transformObject: completeOpenApiDocument,
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })
  await app.register(webFace, { config, keys, clock })
  await app.register(apiRoutes, { prefix: '/api', corsOrigins: config.corsOrigins })
  await app.register(docsRoutes)
  await app.register(jwksRoutes)
  await app.register(appLinkRoutes, { config })
  await app.register(providerCallbackRoutes)
  await app.register(healthRoutes)
  return app
}
