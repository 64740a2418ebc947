import { createHmac, randomBytes } from 'node:crypto'

// Standard Webhooks (standardwebhooks.com), the scheme Svix, Supabase and others sign with:
// HMAC-SHA256 over `${id}.${timestamp}.${body}`, keyed with the secret's base64 part after
// `whsec_`, sent as `v1,<base64>`. Several secrets (a rotation) give several signatures,
// space-separated, and a receiver accepts any one it knows.

const secretPrefix = 'whsec_'

/** The key bytes of a `whsec_<base64>` secret. */
export function webhookKey (secret: string): Buffer {
  if (!secret.startsWith(secretPrefix)) throw new Error('a webhook secret starts with whsec_')
  return Buffer.from(secret.slice(secretPrefix.length), 'base64')
}

export interface SignedWebhookHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/** The three headers of a signed request. `timestampSeconds`: whole seconds since the epoch. */
export function signWebhook (keys: readonly Buffer[], id: string, timestampSeconds: number, body: string): SignedWebhookHeaders {
  const signed = `${id}.${timestampSeconds}.${body}`
  const signatures = keys.map(key => `v1,${createHmac('sha256', key).update(signed).digest('base64')}`)
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': signatures.join(' ') }
}

/** A Svix-like message id for the webhook-id header: one per event, the same on every attempt. */
export function newMessageId (): string {
  return `msg_${randomBytes(16).toString('base64url')}`
}
