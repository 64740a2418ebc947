import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server'
import { Type } from 'typebox'
import { DomainError } from '../../domain/errors.js'
import { clientIp } from '../client-ip.js'
import { describeError } from '../error-mapping.js'
import { AuthenticationResponse, PasskeyParams, RegistrationResponse } from '../api/passkey-schemas.js'
import { localPathOr } from './local-path.js'
import { localeOf, seeOther } from './render.js'

export interface PasskeyPageOptions {
  requireSignIn: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
}

function clientOf (request: FastifyRequest) {
  return { ip: clientIp(request), userAgent: request.headers['user-agent'] }
}

function signedIn (request: FastifyRequest) {
  if (request.auth === undefined) throw new DomainError('not_authenticated')
  return request.auth
}

/**
 * The script's calls (public/passkeys.js, a fetch with the page's CSRF token) answer JSON, a
 * refusal as the API's {detail, code}: the script shows the detail beside its button.
 */
async function answerJson (request: FastifyRequest, reply: FastifyReply, work: () => Promise<unknown>): Promise<FastifyReply> {
  try {
    return await reply.header('cache-control', 'no-store').send(await work())
  } catch (error) {
    if (!(error instanceof DomainError)) throw error
    const described = describeError(error, localeOf(request), request.id)
    return await reply.code(described.status).send({ detail: described.detail, code: described.code })
  }
}

/**
 * The pages' passkey routes (issue 24), in the pages' context: its cross-site and CSRF locks
 * hold for the script's posts as for the forms. Sign-in and adding are the script's (WebAuthn
 * has no form); renaming and removing are plain forms that work without it.
 */
export function passkeyPageRoutes (fastify: FastifyInstance, { requireSignIn }: PasskeyPageOptions): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { auth, passkeys } = app.services

  app.post('/login/passkey/options', async (request, reply) => await answerJson(request, reply, async () => await passkeys.authenticationOptions(clientOf(request))))

  app.post('/login/passkey', {
    schema: { body: Type.Object({ response: AuthenticationResponse, next: Type.Optional(Type.String({ maxLength: 512 })) }) }
  }, async (request, reply) => await answerJson(request, reply, async () => {
    const session = await passkeys.signIn(request.body.response as unknown as AuthenticationResponseJSON, 'web', clientOf(request))
    // As a sign-in by code: the old session ends, the cookie starts afresh.
    const previous = request.session.get('sid')
    if (previous !== undefined) await auth.signOut(previous)
    request.session.regenerate()
    request.session.set('sid', session.sessionId)
    const next = localPathOr(request.body.next, '/profile')
    return { next: /^\/login(?:[/?]|$)/.test(next) ? '/profile' : next }
  }))

  app.post('/profile/passkeys/options', { preHandler: requireSignIn }, async (request, reply) =>
    await answerJson(request, reply, async () => await passkeys.registrationOptions(signedIn(request), clientOf(request))))

  app.post('/profile/passkeys', {
    preHandler: requireSignIn,
    schema: { body: Type.Object({ response: RegistrationResponse }) }
  }, async (request, reply) => await answerJson(request, reply, async () => {
    const added = await passkeys.verifyRegistration(signedIn(request), request.body.response as unknown as RegistrationResponseJSON, clientOf(request))
    request.session.set('flash', { key: 'page_passkey_added' })
    return { id: added.id }
  }))

  app.post('/profile/passkeys/:id/rename', {
    preHandler: requireSignIn,
    schema: { params: PasskeyParams, body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) }) },
    config: { staleForm: { page: '/profile' } }
  }, async (request, reply) => {
    await passkeys.rename(signedIn(request).userId, request.params.id, request.body.name)
    request.session.set('flash', { key: 'page_passkey_renamed' })
    return seeOther(reply, '/profile#passkeys-title')
  })

  app.post('/profile/passkeys/:id/remove', {
    preHandler: requireSignIn,
    schema: { params: PasskeyParams },
    config: { staleForm: { page: '/profile' } }
  }, async (request, reply) => {
    await passkeys.remove(signedIn(request), request.params.id)
    request.session.set('flash', { key: 'page_passkey_removed' })
    return seeOther(reply, '/profile#passkeys-title')
  })
}
