import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { HelmetOptions } from 'helmet'
import csrf from '@fastify/csrf-protection'
import fastifyStatic from '@fastify/static'
import view from '@fastify/view'
import nunjucks from 'nunjucks'
import type { Config } from '../../config.js'
import type { Clock } from '../../services/clock.js'
import type { Keys } from '../../services/keys.js'
import { securityHeadersPlugin } from '../security-headers.js'
import { captchaCspSources } from '../../services/captcha.js'
import { keepPhonesWhole } from './render.js'
import { pageRoutes } from './routes.js'
import { registerSession } from './session.js'

export interface WebOptions {
  config: Config
  keys: Keys
  clock: Clock
}

// views/ and public/ sit at the project root, whether this runs from src/ or from dist/src/.
const here = fileURLToPath(new URL('../../../', import.meta.url))
const projectRoot = basename(here) === 'dist' ? dirname(here) : here

/** Security headers for every answer: a strict CSP with no inline script or style. */
export const strictCsp = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    objectSrc: ["'none'"]
  }
}

async function webPages (app: FastifyInstance, { config, keys, clock }: WebOptions): Promise<void> {
  await registerSession(app, config, keys)
  await app.register(csrf, { sessionPlugin: '@fastify/secure-session' })
  await app.register(view, {
    engine: { nunjucks },
    root: join(projectRoot, 'views'),
    viewExt: 'njk',
    options: {
      autoescape: true,
      throwOnUndefined: false,
      onConfigure: (env: nunjucks.Environment) => { env.addFilter('phones', keepPhonesWhole) }
    }
  })
  await app.register(fastifyStatic, {
    root: join(projectRoot, 'public'),
    prefix: '/assets/',
    decorateReply: false,
    maxAge: '1d',
    etag: true,
    lastModified: true
  })
  // @simplewebauthn/browser's ES module build, served from here (no CDN): the CSP's script-src
  // 'self' allows it, and public/passkeys.js imports it.
  await app.register(fastifyStatic, {
    root: join(projectRoot, 'node_modules', '@simplewebauthn', 'browser', 'esm'),
    prefix: '/assets/webauthn/',
    decorateReply: false,
    maxAge: '1d',
    etag: true,
    lastModified: true,
    allowedPath: (path) => path.endsWith('.js')
  })
  await app.register(pageRoutes, { config, clock })
}

/** helmet's headers on every answer of the app: a strict CSP with no inline script or style. */
export const appSecurityOptions = {
  contentSecurityPolicy: strictCsp,
  strictTransportSecurity: { maxAge: 31_536_000 },
  // With helmet's default no-referrer, Chromium sends `Origin: null` on a same-site form post,
  // which the cross-site check has to refuse; same-origin keeps the real Origin.
  referrerPolicy: { policy: 'same-origin' as const }
}

/**
 * The app's security options for a configuration: the strict CSP, and with a captcha provider
 * in place of ALTCHA (FRAUD_CHALLENGE), that provider's hosts for its widget, in that mode only.
 */
export function securityOptionsFor (config: Config): HelmetOptions {
  const captcha = config.fraudGuard.captcha
  if (captcha === undefined) return appSecurityOptions
  const hosts = captchaCspSources[captcha.provider]
  const directives = strictCsp.directives
  return {
    ...appSecurityOptions,
    contentSecurityPolicy: {
      ...strictCsp,
      directives: {
        ...directives,
        scriptSrc: [...directives.scriptSrc, ...hosts.script],
        styleSrc: [...directives.styleSrc, ...hosts.style],
        connectSrc: [...directives.connectSrc, ...hosts.connect],
        frameSrc: hosts.frame
      }
    }
  }
}

/** The pages face: security headers for the whole app, then the pages in their own context. */
export const webFace = fp(async (app: FastifyInstance, options: WebOptions) => {
  await app.register(securityHeadersPlugin, securityOptionsFor(options.config))
  await app.register(webPages, options)
}, { name: 'phonepass-web' })
