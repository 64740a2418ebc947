import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import { Type } from 'typebox'
import { DomainError } from '../../domain/errors.js'
import type { Passkey } from '../../services/passkey-service.js'
import type { Profile as ServiceProfile } from '../../services/profile-service.js'
import { clientIp } from '../client-ip.js'
import { requireBearer } from './authenticate.js'
import {
  CreationOptions, PasskeyBody, PasskeyList, PasskeyParams, PasskeySignInBody, PasskeySignInReply, RegisterPasskeyBody, RenamePasskeyBody, RequestOptions
} from './passkey-schemas.js'
import { errorResponses } from './schemas.js'

const bearerSecurity = [{ bearerAuth: [] }]

export function toPasskeyBody (passkey: Passkey) {
  return {
    id: passkey.id,
    name: passkey.name,
    device_type: passkey.deviceType as 'singleDevice' | 'multiDevice',
    backed_up: passkey.backedUp,
    created_at: new Date(passkey.createdAt).toISOString(),
    last_used_at: passkey.lastUsedAt === null ? null : new Date(passkey.lastUsedAt).toISOString()
  }
}

function clientOf (request: FastifyRequest) {
  return { ip: clientIp(request), userAgent: request.headers['user-agent'] }
}

function authOf (request: FastifyRequest) {
  if (request.auth === undefined) throw new DomainError('not_authenticated')
  return request.auth
}

/** The JSON face of passkeys (issue 24): thin handlers over services/passkey-service.ts. */
export async function passkeyApiRoutes (fastify: FastifyInstance, { toProfileBody }: { toProfileBody: (profile: ServiceProfile) => unknown }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { passkeys, profile } = app.services
  app.addSchema(PasskeyBody)

  app.post('/users/passkeys/registration/options/', {
    onRequest: requireBearer,
    schema: {
      tags: ['passkeys'],
      summary: 'Add a passkey, step one: the options for the authenticator',
      description: 'Adding a passkey is lasting power over the account, so a token alone is not enough: the token\'s session must have been signed in (by a code or a passkey) within PASSKEY_FRESH_MINUTES (5), else 403 passkey_sign_in_too_old: sign in again with register and verify_code, then add it. Ask right after the phone sign-in. An admin who has a passkey must sign in with it (403 passkey_required). 429 past LIMIT_PASSKEY_OPTIONS_PER_IP_HOUR.',
      security: bearerSecurity,
      response: { 200: CreationOptions, ...errorResponses(401, 403, 404, 429) }
    }
  }, async (request) => await passkeys.registrationOptions(authOf(request), clientOf(request)))

  app.post('/users/passkeys/registration/', {
    onRequest: requireBearer,
    schema: {
      tags: ['passkeys'],
      summary: 'Add a passkey, step two: the new credential',
      description: 'The authenticator\'s answer to step one\'s options, within 5 minutes, once. Checked: the challenge (400 passkey_challenge_invalid when unknown, used or expired), the site (PASSKEY_RP_ID) and origin (PASSKEY_ORIGINS), user verification (401 passkey_invalid otherwise). Attestation is not asked for. 409 passkey_exists when this credential is registered already.',
      security: bearerSecurity,
      body: RegisterPasskeyBody,
      response: { 201: Type.Ref('Passkey'), ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request, reply) => {
    const added = await passkeys.verifyRegistration(authOf(request), request.body.response as unknown as RegistrationResponseJSON, clientOf(request), request.body.name)
    return await reply.code(201).send(toPasskeyBody(added))
  })

  app.post('/users/passkeys/authentication/options/', {
    schema: {
      tags: ['passkeys'],
      summary: 'Sign in with a passkey, step one: the options (no phone needed)',
      description: 'Any passkey of this site may answer (discoverable credentials, user verification required). 429 past LIMIT_PASSKEY_OPTIONS_PER_IP_HOUR.',
      response: { 200: RequestOptions, ...errorResponses(404, 429) }
    }
  }, async (request) => await passkeys.authenticationOptions(clientOf(request)))

  app.post('/users/passkeys/authentication/', {
    schema: {
      tags: ['passkeys'],
      summary: 'Sign in with a passkey, step two: the assertion; no SMS is sent',
      description: 'Ends in the same session and token pair as verify_code (the session records the method; user.signed_in says method "passkey"). Each options\' challenge signs in once: a replay, or the same assertion sent many times at once, gets 400 passkey_challenge_invalid but for one. 401 passkey_invalid for an unknown or removed passkey, another site or origin, a bad signature or a counter gone back. 403 account_blocked for a blocked account.',
      body: PasskeySignInBody,
      response: { 200: PasskeySignInReply, ...errorResponses(400, 401, 403, 404) }
    }
  }, async (request) => {
    const signedIn = await passkeys.signIn(request.body.response as unknown as AuthenticationResponseJSON, 'api', clientOf(request))
    if (signedIn.tokens === undefined) throw new Error('an api sign-in always has tokens')
    const user = await profile.getProfile(signedIn.userId)
    const tokens = signedIn.tokens
    return { refresh: tokens.refresh, access: tokens.access, token_type: 'Bearer' as const, expires_in: tokens.expiresIn, user: toProfileBody(user) as never }
  })

  app.get('/users/me/passkeys/', {
    onRequest: requireBearer,
    schema: {
      tags: ['passkeys'],
      summary: 'My passkeys',
      security: bearerSecurity,
      response: { 200: PasskeyList, ...errorResponses(401) }
    }
  }, async (request) => ({ results: (await passkeys.listPasskeys(authOf(request).userId)).map(toPasskeyBody) }))

  app.patch('/users/me/passkeys/:id/', {
    onRequest: requireBearer,
    schema: {
      tags: ['passkeys'],
      summary: 'Rename a passkey',
      security: bearerSecurity,
      params: PasskeyParams,
      body: RenamePasskeyBody,
      response: { 204: Type.Null({ description: 'Renamed' }), ...errorResponses(400, 401, 404) }
    }
  }, async (request, reply) => {
    await passkeys.rename(authOf(request).userId, request.params.id, request.body.name)
    return await reply.code(204).send(null)
  })

  app.delete('/users/me/passkeys/:id/', {
    onRequest: requireBearer,
    schema: {
      tags: ['passkeys'],
      summary: 'Remove a passkey',
      description: 'It signs nothing in from now on (a sign-in with it gets 401 passkey_invalid), and the sessions it signed in, but this one, end. The token\'s session is enough: removing gives no way in, and the owner must be able to take out a passkey someone else added. passkey.removed is sent.',
      security: bearerSecurity,
      params: PasskeyParams,
      response: { 204: Type.Null({ description: 'Removed' }), ...errorResponses(401, 404) }
    }
  }, async (request, reply) => {
    await passkeys.remove(authOf(request), request.params.id)
    return await reply.code(204).send(null)
  })
}
