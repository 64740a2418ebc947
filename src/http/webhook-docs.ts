import type { WebhookEventType } from '../config.js'

// The events phonepass sends to WEBHOOK_URL, for the OpenAPI document. OpenAPI 3.0 has no
// `webhooks` keyword (3.1 has): the document stays 3.0.3, which @fastify/swagger generates
// from the route schemas, and lists them under `x-webhooks`, which ReDoc renders as 3.1's.

const id = { type: 'integer', description: 'The user\'s id (as `id` in the profile)' }
const phone = { type: 'string', description: 'The user\'s phone, E.164', example: '+79123456789' }

const events: Record<WebhookEventType, { summary: string, description: string, data: Record<string, unknown> }> = {
  'user.created': {
    summary: 'An account was created',
    description: 'At the first sign-in of a phone, through the API or the pages.',
    data: { id, phone, invite_code: { type: 'string', description: 'The user\'s own invite code', example: 'K7Q2ZD' } }
  },
  'user.signed_in': {
    summary: 'A user signed in',
    description: 'Every successful sign-in, the first one included (after its user.created). Sent only when WEBHOOK_EVENTS lists it.',
    data: {
      id,
      phone,
      kind: { type: 'string', enum: ['api', 'web'], description: 'An app (tokens) or a browser (the pages)' },
      method: { type: 'string', enum: ['phone', 'passkey'], description: 'A code by SMS, or a passkey (no SMS)' }
    }
  },
  'passkey.added': {
    summary: 'A passkey was added to an account',
    description: 'After a sign-in by phone code (or a fresh code): the account can now be signed in to with this passkey, without an SMS.',
    data: {
      id,
      phone,
      passkey: {
        type: 'object',
        properties: {
          id: { type: 'string', description: 'The credential id, base64url' },
          name: { type: 'string', description: 'The name shown on the profile' },
          device_type: { type: 'string', enum: ['singleDevice', 'multiDevice'], description: 'multiDevice: a synced passkey' }
        }
      }
    }
  },
  'passkey.removed': {
    summary: 'A passkey was removed from an account',
    description: 'By the person (profile or API) or by an admin (audited). A deleted account\'s passkeys go with it (user.deleted) without this event.',
    data: {
      id,
      phone,
      passkey: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
      by: { type: 'string', enum: ['user', 'admin'] }
    }
  },
  'invite.activated': {
    summary: 'A user activated an invite code',
    description: 'Once per user: `id` activated the code of `inviter_id`.',
    data: {
      id,
      phone,
      activated_invite_code: { type: 'string', description: 'The code activated (the inviter\'s own code)', example: 'K7Q2ZD' },
      inviter_id: { type: 'integer', description: 'The id of the user whose code it is' }
    }
  },
  'user.deleted': {
    summary: 'An account was deleted',
    description: 'Forget this person: the account and its sessions are gone.',
    data: { id, phone }
  },
  'fraud.destination_suspect': {
    summary: 'A destination of codes turned suspect (SMS pumping)',
    description: 'The fraud guard saw a number prefix or a country whose codes go unentered or whose rate jumped past its baseline: new numbers there need a challenge from now on. Sent once an hour per destination at most.',
    data: {
      destination: { type: 'string', description: 'A prefix (`+44791112`: the number less its last digits) or a country (ISO 3166, `GB`)', example: '+44791112' },
      kind: { type: 'string', enum: ['prefix', 'country'] },
      reason: { type: 'string', description: 'Why, for an operator to read', example: '2 of 40 codes sent in the last 60 minutes were entered (5%, below 30%)' }
    }
  },
  'user.phone_changed': {
    summary: 'A user\'s phone number changed',
    description: '`phone` is the new number, `previous_phone` the old one.',
    data: { id, phone, previous_phone: { type: 'string', description: 'The number before the change, E.164' } }
  },
  'user.blocked': {
    summary: 'An account was blocked',
    description: 'The user cannot sign in until unblocked; their sessions were ended.',
    data: { id, phone }
  },
  'user.unblocked': {
    summary: 'An account was unblocked',
    description: 'The user can sign in again.',
    data: { id, phone }
  }
}

const signatureHeaders = [
  { name: 'webhook-id', in: 'header', required: true, description: 'The event\'s id, `msg_…`: the same on every retry of one event, so a receiver can drop a repeat', schema: { type: 'string' } },
  { name: 'webhook-timestamp', in: 'header', required: true, description: 'Seconds since the epoch when this attempt was signed; refuse one far from now (replays)', schema: { type: 'integer' } },
  {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    description: 'Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64 part of WEBHOOK_SECRET after `whsec_`; one per secret, space-separated, while secrets rotate. Check with a Standard Webhooks library (e.g. the `standardwebhooks` npm package)',
    schema: { type: 'string' }
  }
]

/** The document's `x-webhooks`: one POST per event type, with its headers and body. */
export function webhooksSection (): Record<string, unknown> {
  return Object.fromEntries(Object.entries(events).map(([type, event]) => [type, {
    post: {
      tags: ['webhooks'],
      operationId: `webhook_${type.replace('.', '_')}`,
      summary: event.summary,
      description: `${event.description} POSTed to WEBHOOK_URL, signed; retried until a 2xx (at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).`,
      parameters: signatureHeaders,
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['type', 'timestamp', 'data'],
              properties: {
                type: { type: 'string', enum: [type] },
                timestamp: { type: 'string', format: 'date-time', description: 'When the change happened' },
                data: { type: 'object', required: Object.keys(event.data), properties: event.data }
              }
            }
          }
        }
      },
      responses: {
        '2XX': { description: 'Taken: the event is delivered and not sent again' },
        default: { description: 'Anything else, or no answer within WEBHOOK_TIMEOUT_MS: sent again later' }
      }
    }
  }]))
}
