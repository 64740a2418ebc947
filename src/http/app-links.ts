import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.js'

/**
 * The files that let this site's passkeys be used in its apps (issue 24): iOS associated domains
 * (`webcredentials`) and Android's Digital Asset Links (`get_login_creds`, which Credential
 * Manager checks). Built from APPLE_APP_IDS and ANDROID_APP_LINKS; empty lists when unset.
 */
export async function appLinkRoutes (app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  const appleBody = { webcredentials: { apps: config.appLinks.appleAppIds } }
  const androidBody = config.appLinks.android.map(link => ({
    relation: ['delegate_permission/common.handle_all_urls', 'delegate_permission/common.get_login_creds'],
    target: { namespace: 'android_app', package_name: link.packageName, sha256_cert_fingerprints: [link.fingerprint] }
  }))
  // Apple's CDN fetches it without an extension and wants JSON; both are public by nature.
  app.get('/.well-known/apple-app-site-association', { schema: { hide: true } }, async (_request, reply) =>
    await reply.type('application/json').header('cache-control', 'public, max-age=3600').send(appleBody))
  app.get('/.well-known/assetlinks.json', { schema: { hide: true } }, async (_request, reply) =>
    await reply.type('application/json').header('cache-control', 'public, max-age=3600').send(androidBody))
}
