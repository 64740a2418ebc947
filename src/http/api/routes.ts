import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DomainError } from '../../domain/errors.js'
import { pickLocale, translate } from '../../i18n/catalogue.js'
import type { TokenPair as ServiceTokenPair } from '../../services/auth-service.js'
import type { Profile as ServiceProfile } from '../../services/profile-service.js'
import { clientIp } from '../client-ip.js'
import { answerJsonError } from '../error-mapping.js'
import { acceptedBodyTypes } from '../multipart-forms.js'
import { adminRoutes } from './admin-routes.js'
import { passkeyApiRoutes } from './passkey-routes.js'
import { authenticateBearer, requireBearer, takeBearer } from './authenticate.js'
import { ignoreTypeOfEmptyBody } from './empty-body.js'
import { answerNotFound, isAdminPath } from './not-found.js'
import { guardCrossOrigin } from './cross-origin.js'
import {
  DataExport, DeleteAccountBody, ErrorBody, PhoneChangeBody, PhoneChangeVerifyBody, InviteBody, InvitedPage, InvitedQuery, LogoutBody, Profile, RefreshBody, RegisterBody, RegisterReply, TokenPair,
  TokenVerifyBody, TokenVerifyReply, VerifyBody, VerifyReply, errorResponses, invitedPageDefaultLimit, type ProfileBody
} from './schemas.js'

function toProfileBody (profile: ServiceProfile): ProfileBody {
  return {
    id: profile.id,
    phone: profile.phone,
    invite_code: profile.inviteCode,
    activated_invite_code: profile.activatedInviteCode,
    users_invited: profile.invitedPhones,
    users_invited_count: profile.invitedCount
  }
}

function toTokenBody (tokens: ServiceTokenPair) {
  return { refresh: tokens.refresh, access: tokens.access, token_type: 'Bearer' as const, expires_in: tokens.expiresIn }
}

function clientOf (request: FastifyRequest) {
  return { ip: clientIp(request), userAgent: request.headers['user-agent'] }
}

function authOf (request: FastifyRequest) {
  if (request.auth === undefined) throw new DomainError('not_authenticated')
  return request.auth
}

const bearerSecurity = [{ bearerAuth: [] }]
const routeMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const
const plainPath = /^[\w./-]*$/

export interface ApiOptions {
  /** CORS_ORIGINS: the web apps on other origins that may call the API. */
  corsOrigins: readonly string[]
}

/** The JSON face: the Django service's paths, thin handlers over the services. */
export async function apiRoutes (fastify: FastifyInstance, { corsOrigins }: ApiOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { auth, profile } = app.services
  await guardCrossOrigin(app, corsOrigins)

  app.addSchema(Profile)
  app.addSchema(ErrorBody)

  app.setErrorHandler(answerJsonError)

  // A path the API has, asked with a method it does not take: 405 with Allow, as DRF answered;
  // OPTIONS tells what the path takes. Not the admin API's paths: to a caller without a key they
  // are unknown paths whatever the method (admin-routes.ts), and the not-found handler runs
  // before any key is looked at.
  app.setNotFoundHandler(async (request, reply) => {
    const locale = pickLocale(request.headers['accept-language'])
    // Routes are kept without their trailing slash (ignoreTrailingSlash), and looked up so.
    // hasRoute reads its url as a route pattern (":x(", "*"): only plain paths are looked up.
    const path = (request.url.split('?', 1)[0] ?? '').replace(/\/$/, '')
    const allowed = plainPath.test(path) && !isAdminPath(path) ? routeMethods.filter(method => app.hasRoute({ url: path, method })) : []
    if (allowed.length === 0) return answerNotFound(request, reply)
    reply.header('allow', [...allowed, 'OPTIONS'].join(', '))
    if (request.method === 'OPTIONS') return await reply.code(200).send({ renders: ['application/json'], parses: acceptedBodyTypes })
    return await reply.code(405).send({ detail: translate(locale, 'method_not_allowed', { method: request.method }), code: 'method_not_allowed' })
  })

  // The admin API (/api/admin/), behind its own keys; it shares this face's error handling.
  await app.register(adminRoutes, { prefix: '/admin' })

  app.post('/users/register/', {
    schema: {
      tags: ['auth'],
      summary: 'Send a one-time code by SMS, WhatsApp or a call',
      description: 'Answers alike for known and unknown phones. The code goes by `channel` when given, else by the first channel of the number\'s country; when a provider fails the next channel is tried at once, and `channel` in the answer says which one brought it. A code a delivery receipt reported undelivered may be replaced at once by a code by another channel (no resend wait). 429 too_many_calls when the voice caps are spent. 400 for numbers that cannot take an SMS or are outside the allowed countries; 429 with Retry-After while the previous code is younger than the resend interval or a per-phone or per-IP quota is spent, or while new numbers of an abused destination cool off (destination_cooling_off); 503 when the SMS provider fails or the hourly SMS cap is reached. 403 challenge_required only for a new number in a destination the fraud guard holds suspect (SMS pumping): solve the challenge in the body and send register again with `challenge`; numbers with an account and requests with this phone\'s device_token never meet one.',
      body: RegisterBody,
      response: { 200: RegisterReply, ...errorResponses(400, 403, 429, 503) }
    }
  }, async (request) => {
    const locale = pickLocale(request.headers['accept-language'])
    const sent = await auth.requestCode(request.body.phone, { ...clientOf(request), deviceToken: request.body.device_token, challenge: request.body.challenge }, locale, request.body.channel)
    return {
      phone: sent.phone,
      expires_in: sent.expiresIn,
      resend_in: sent.resendIn,
      detail: translate(locale, 'code_sent', { phone: sent.phone }),
      channel: sent.channel,
      channels: sent.channels
    }
  })

  app.post('/users/verify_code/', {
    schema: {
      tags: ['auth'],
      summary: 'Sign in with the code; the first sign-in creates the account',
      description: 'Each code allows a limited number of tries (attempts_left in a 400); then 429. Wrong codes are also limited per phone a day (then 429 too_many_wrong_codes for devices that never signed in to it) and per IP an hour. A right code for an account an operator has blocked gets 403 account_blocked (and is spent).',
      body: VerifyBody,
      response: { 200: VerifyReply, ...errorResponses(400, 403, 429) }
    }
  }, async (request) => {
    const client = { ...clientOf(request), deviceToken: request.body.device_token }
    const signedIn = await auth.verifyCode(request.body.phone, request.body.auth_code, 'api', client)
    if (signedIn.tokens === undefined) throw new Error('an api sign-in always has tokens')
    const user = await profile.getProfile(signedIn.userId)
    return { ...toTokenBody(signedIn.tokens), created: signedIn.created, user: toProfileBody(user), device_token: signedIn.deviceToken }
  })

  await app.register(passkeyApiRoutes, { toProfileBody })

  // The token's session and the profile are read together (one snapshot).
  app.get('/users/me/', {
    onRequest: takeBearer,
    schema: {
      tags: ['profile'],
      summary: 'The signed-in user\'s profile',
      security: bearerSecurity,
      response: { 200: Type.Ref('Profile'), ...errorResponses(401) }
    }
  }, async (request, reply) => toProfileBody(await authenticateBearer(request, reply, profile.findOwnProfile)))

  app.delete('/users/me/', {
    onRequest: requireBearer,
    schema: {
      tags: ['profile'],
      summary: 'Delete my account',
      description: 'Proven by a fresh code: ask for one with POST /api/users/register/ for the account\'s own phone, then send it here. Erased at once: the phone, every session and refresh token (tokens already issued fail on their next request), the login code, the addresses and user agents. Kept: the invite code, reserved and still shown on the profiles of those who joined with it. The phone may sign up again as a new account. A wrong or missing code gets the same answers as verify_code.',
      security: bearerSecurity,
      body: DeleteAccountBody,
      response: { 204: Type.Null({ description: 'The account is deleted' }), ...errorResponses(400, 401, 429) }
    }
  }, async (request, reply) => {
    await auth.deleteAccount(authOf(request).userId, request.body.auth_code, { ...clientOf(request), deviceToken: request.body.device_token })
    return await reply.code(204).send(null)
  })

  app.get('/users/me/export/', {
    onRequest: requireBearer,
    schema: {
      tags: ['profile'],
      summary: 'Everything stored about me, as JSON',
      description: 'For a copy of one\'s data (GDPR articles 15 and 20): the profile, who invited me and whom I invited, every session kept with its times, address and user agent, the pending login code, and the webhook events about me still kept.',
      security: bearerSecurity,
      response: { 200: DataExport, ...errorResponses(401) }
    }
  }, async (request) => await profile.exportData(authOf(request).userId))

  app.post('/users/me/phone/', {
    onRequest: requireBearer,
    schema: {
      tags: ['profile'],
      summary: 'Change my number, step one: the current number\'s code, then a code to the new number',
      description: 'Proven by the current number, as a deletion is: ask for a code with POST /api/users/register/ for the account\'s own phone and send it here as auth_code, with the new phone. The code is checked by verify_code\'s rules and limits and spent; then a code goes to the new number with register\'s destination checks and limits (when that send is refused, 403 challenge_required where the fraud guard asks for one, 429 or 503, the current number\'s code may be sent again, with `challenge` solved). The proof lasts as long as a code. Answers alike whether or not the new number has an account; that is said in step two, to whoever holds the number. 400 phone_unchanged for the account\'s own number.',
      security: bearerSecurity,
      body: PhoneChangeBody,
      response: { 200: RegisterReply, ...errorResponses(400, 401, 403, 429, 503) }
    }
  }, async (request) => {
    const locale = pickLocale(request.headers['accept-language'])
    const { phone, auth_code: code, device_token: deviceToken, challenge } = request.body
    const sent = await auth.requestPhoneChangeCode(authOf(request).userId, phone, code, { ...clientOf(request), deviceToken, challenge }, locale)
    return { phone: sent.phone, expires_in: sent.expiresIn, resend_in: sent.resendIn, detail: translate(locale, 'code_sent', { phone: sent.phone }), channel: sent.channel, channels: sent.channels }
  })

  app.post('/users/me/phone/verify/', {
    onRequest: requireBearer,
    schema: {
      tags: ['profile'],
      summary: 'Change my number, step two: the new number\'s code moves the account',
      description: 'Needs step one\'s live proof for this very number (else 403 phone_change_unproven, and no try at the code is spent). The code is checked by verify_code\'s rules and limits. 409 phone_taken when the number has an account. Every other session of the account ends (this one stays signed in); a short SMS tells the old number.',
      security: bearerSecurity,
      body: PhoneChangeVerifyBody,
      response: { 200: Type.Ref('Profile'), ...errorResponses(400, 401, 403, 409, 429) }
    }
  }, async (request) => {
    const locale = pickLocale(request.headers['accept-language'])
    const { userId, sessionId } = authOf(request)
    await auth.changePhone(userId, sessionId, request.body.phone, request.body.auth_code, clientOf(request), locale)
    return toProfileBody(await profile.getProfile(userId))
  })

  // DRF's limit/offset pagination shape, for users who invited more than a profile shows.
  app.get('/users/me/invited/', {
    onRequest: requireBearer,
    schema: {
      tags: ['profile'],
      summary: 'The users who joined with my code, a page at a time',
      security: bearerSecurity,
      querystring: InvitedQuery,
      response: { 200: InvitedPage, ...errorResponses(400, 401) }
    }
  }, async (request) => {
    const { limit = invitedPageDefaultLimit, offset = 0 } = request.query
    const page = await profile.listInvited(authOf(request).userId, limit, offset)
    // DRF's LimitOffsetPagination links, the first page without an offset; but relative: an
    // absolute one would be built from the Host header, which nothing here checks (DRF had
    // ALLOWED_HOSTS), and an app following it would send its token to that host.
    const link = (at: number) => `/api/users/me/invited/?limit=${limit}${at > 0 ? `&offset=${at}` : ''}`
    return {
      count: page.count,
      next: offset + limit < page.count ? link(offset + limit) : null,
      previous: offset > 0 ? link(Math.max(0, offset - limit)) : null,
      results: page.phones
    }
  })

  for (const method of ['PATCH', 'PUT'] as const) {
    app.route({
      method,
      url: '/profile/',
      onRequest: requireBearer,
      schema: {
        tags: ['profile'],
        // DRF's update views also took PUT; apps that used it keep working.
        summary: method === 'PATCH' ? 'Activate another user\'s invite code (once)' : 'Same as PATCH (kept from the Django service)',
        description: '400 for a malformed code or one\'s own, 404 for an unknown one, 409 when a code was already activated or this one would close a cycle.',
        security: bearerSecurity,
        body: InviteBody,
        response: { 200: Type.Ref('Profile'), ...errorResponses(400, 401, 404, 409, 429) }
      },
      handler: async (request) => toProfileBody(await profile.activateInvite(authOf(request).userId, request.body.invite_code))
    })
  }
  app.get('/profile/', {
    onRequest: takeBearer,
    schema: { tags: ['profile'], summary: 'Same as GET /api/users/me/ (kept from the Django service)', security: bearerSecurity, response: { 200: Type.Ref('Profile'), ...errorResponses(401) } }
  }, async (request, reply) => toProfileBody(await authenticateBearer(request, reply, profile.findOwnProfile)))

  app.post('/token/refresh/', {
    schema: {
      tags: ['auth'],
      summary: 'Swap a refresh token for a new pair',
      description: 'The refresh token is spent; presenting a spent one again revokes its session.',
      body: RefreshBody,
      response: { 200: TokenPair, ...errorResponses(400, 401) }
    }
  }, async (request) => toTokenBody(await auth.refreshTokens(request.body.refresh)))

  // simplejwt's TokenVerifyView, stricter: the token's session must still be live.
  app.post('/token/verify/', {
    schema: {
      tags: ['auth'],
      summary: 'Check an access token (simplejwt\'s TokenVerifyView)',
      description: 'For services that take phonepass tokens: 200 {} while the token is genuine, unexpired and its session live; 401 token_not_valid otherwise, including at once after a logout or revocation, which a check of the signature alone (JWKS) sees only when the token expires.',
      body: TokenVerifyBody,
      response: { 200: TokenVerifyReply, ...errorResponses(400, 401) }
    }
  }, async (request) => {
    await auth.authenticateAccessToken(request.body.token)
    return {}
  })

  app.post('/users/logout/', {
    onRequest: ignoreTypeOfEmptyBody,
    schema: {
      tags: ['auth'],
      summary: 'End the session of a refresh token or of the bearer access token',
      security: [...bearerSecurity, {}],
      body: LogoutBody,
      response: { 204: Type.Null({ description: 'Signed out' }), ...errorResponses(400, 401) }
    }
  }, async (request, reply) => {
    const refresh = request.body?.refresh
    if (refresh !== undefined) {
      await auth.signOutByRefreshToken(refresh)
    } else {
      await requireBearer(request, reply)
      await auth.signOut(authOf(request).sessionId)
    }
    return await reply.code(204).send(null)
  })
}
