import type { FastifyContextConfig, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DomainError } from '../../domain/errors.js'
import { formatPhoneForDisplay } from '../../domain/phone.js'
import { formatWait, locales, translate } from '../../i18n/catalogue.js'
import type { Config } from '../../config.js'
import type { Clock } from '../../services/clock.js'
import { clientIp } from '../client-ip.js'
import { isCrossSite } from '../cross-site.js'
import { describeError } from '../error-mapping.js'
import { adminPageRoutes } from './admin-routes.js'
import { localPathOr } from './local-path.js'
import { passkeyPageRoutes } from './passkey-routes.js'
import { freshForm, languageCookie, localeOf, renderPage, seeOther, takeFlash, type FormState } from './render.js'
import { isHttps, readDeviceToken, rememberDevice } from './session.js'
import { passkeysView, profileView } from './view-model.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A form page: a refused post shows it again with the messages beside its fields. */
    form?: { fields: readonly string[], render: (request: FastifyRequest, reply: FastifyReply, state: FormState) => Promise<FastifyReply> }
    /**
     * Where a post from one of our pages goes when its CSRF token is stale (another tab signed
     * in or out, which starts a new cookie): back to `page` to try again, or, when the browser is
     * already `done` (signed in, signed out), to where that leaves it.
     */
    staleForm?: { page: string, done?: 'signedIn' | 'signedOut' }
  }
  interface FastifyRequest {
    /**
     * Set by a gate (admin-routes.ts) when the route must look to this visitor like a path that
     * does not exist: a refusal is then answered as on an unknown path, without the route's
     * form or stale-form handling, which would tell that something is there.
     */
    answersAsUnknownPath?: boolean
  }
}

/** The route's page settings, or none where the route must look like an unknown path. */
function pageConfigOf (request: FastifyRequest): FastifyContextConfig {
  return request.answersAsUnknownPath === true ? {} : request.routeOptions.config
}

class CrossSiteRequest extends Error {
  statusCode = 403
}

const csrfFailures = new Set(['FST_CSRF_INVALID_TOKEN', 'FST_CSRF_MISSING_SECRET'])
const tokenHeaders = ['csrf-token', 'xsrf-token', 'x-csrf-token', 'x-xsrf-token']

/** Whether the post carries a CSRF token at all (where @fastify/csrf-protection looks for one). */
function carriesToken (request: FastifyRequest): boolean {
  const body = request.body
  const inBody = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)._csrf : undefined
  if (typeof inBody === 'string' && inBody !== '') return true
  return tokenHeaders.some(name => { const value = request.headers[name]; return typeof value === 'string' && value !== '' })
}

const Text = (maxLength: number) => Type.String({ maxLength })
/** The fraud guard's solved challenge, on the forms whose post sends a code (views/challenge.njk). */
const Challenge = Type.Optional(Text(2048))
const NextQuery = Type.Object({ next: Type.Optional(Type.String({ maxLength: 512 })) })

/** Who is asking; on a form that sends a code, with the fraud guard's solved challenge if one was asked. */
function clientOf (request: FastifyRequest) {
  const body = request.body as { challenge?: unknown } | undefined
  const challenge = typeof body?.challenge === 'string' && body.challenge !== '' ? body.challenge : undefined
  return { ip: clientIp(request), userAgent: request.headers['user-agent'], deviceToken: readDeviceToken(request), challenge }
}

/**
 * A form post must come from this site: the browser's Sec-Fetch-Site, or failing that the
 * Origin, says where it came from. SameSite=Lax and the CSRF token are the other two locks.
 */
function refuseCrossSite (request: FastifyRequest): void {
  if (isCrossSite(request)) throw new CrossSiteRequest('cross-site form post')
}

/**
 * What was typed, to show it again in the form: text only. A JSON post can put an object in
 * a field ({"toString": 1}), which the template cannot print.
 */
function typedValues (body: unknown): Record<string, string> {
  if (body === null || typeof body !== 'object') return {}
  return Object.fromEntries(Object.entries(body).filter((entry): entry is [string, string] => typeof entry[1] === 'string'))
}

export async function pageRoutes (fastify: FastifyInstance, { config, clock }: { config: Config, clock: Clock }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { auth, profile, admin, passkeys } = app.services

  app.addHook('onRequest', async (request) => {
    if (request.method === 'POST') refuseCrossSite(request)
  })
  app.addHook('preValidation', (request, reply, done) => {
    if (request.method === 'POST') app.csrfProtection(request, reply, done)
    else done()
  })

  async function requireSignIn (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const sid = request.session.get('sid')
    try {
      if (sid === undefined) throw new DomainError('not_authenticated')
      request.auth = await auth.authenticateSession(sid)
    } catch (error) {
      if (!(error instanceof DomainError) || (error.code !== 'token_not_valid' && error.code !== 'not_authenticated')) throw error
      request.session.set('sid', undefined)
      const back = request.method === 'GET' ? request.url : '/profile'
      await seeOther(reply, `/login?next=${encodeURIComponent(back)}`)
    }
  }

  function signedIn (request: FastifyRequest) {
    if (request.auth === undefined) throw new DomainError('not_authenticated')
    return request.auth
  }

  async function renderLogin (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    const pending = request.session.get('pendingPhone')
    const query = request.query as { next?: string }
    return await renderPage(request, reply, 'login', {
      title: 'page_sign_in_title',
      flash: takeFlash(request),
      form: state,
      phone: state.values.phone ?? (pending === undefined ? '' : formatPhoneForDisplay(pending)),
      next: state.values.next ?? query.next ?? '',
      passkeys: passkeys.enabled
    }, state.status)
  }

  async function renderCode (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    const phone = request.session.get('pendingPhone')
    if (phone === undefined) return seeOther(reply, '/login')
    const locale = localeOf(request)
    const waitMs = (request.session.get('resendAt') ?? 0) - clock.now()
    const sentBy = request.session.get('sentBy')
    return await renderPage(request, reply, 'code', {
      title: 'page_code_title',
      flash: takeFlash(request),
      form: state,
      phone: formatPhoneForDisplay(phone),
      codeLength: config.otp.length,
      resendWait: waitMs > 0 ? formatWait(locale, waitMs / 1000) : undefined,
      attemptsLeft: state.attemptsLeft,
      // "Send by WhatsApp instead", "Call me instead": the number's other channels (issue 25).
      sentBy,
      otherChannels: app.services.channels.channelsForPhone(phone).filter(channel => channel !== sentBy)
    }, state.status)
  }

  async function renderProfile (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    // A body refused before requireSignIn ran (too large, not a form, invalid) shows the
    // profile again only to the person signed in; anyone else goes to sign in.
    if (request.auth === undefined) await requireSignIn(request, reply)
    if (reply.sent) return reply
    const { userId, sessionId } = signedIn(request)
    const [person, sessions, adminActor, passkeyState] = await Promise.all([
      profile.getProfile(userId), auth.listSessions(userId), admin.actorForUser(userId), passkeys.profileState({ userId, sessionId })
    ])
    // Once a code is activated the invite form is gone: a refusal of a post from a page opened
    // before (another tab) is shown above the page, not beside a field that is not there.
    const inviteErrors = state.fieldErrors.invite_code
    const shown = person.activatedInviteCode !== null && inviteErrors !== undefined
      ? { ...state, fieldErrors: {}, formError: inviteErrors.join(' ') }
      : state
    return await renderPage(request, reply, 'profile', {
      title: 'page_profile_title',
      flash: takeFlash(request),
      form: shown,
      inviteValue: state.values.invite_code ?? '',
      // Only an admin learns the support pages are there.
      supportPages: adminActor !== undefined,
      ...profileView(localeOf(request), person, sessions, sessionId),
      passkeys: passkeysView(localeOf(request), passkeyState)
    }, state.status)
  }

  /**
   * A post that passed the Sec-Fetch-Site / Origin checks (onRequest) and carries a token that
   * no longer matches: a form from one of our pages that went stale, not an attack (which the
   * cross-site checks answer with the 403 page). Nothing is done: the person is sent back to
   * the form's page with a message to try again, or, when another tab already did what the form
   * was for (signed in, signed out), where that leaves them. No token at all stays a 403.
   */
  function recoverStaleForm (request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
    const stale = pageConfigOf(request).staleForm
    if (stale === undefined || !carriesToken(request)) return undefined
    const signedIn = request.session.get('sid') !== undefined
    if (stale.done === 'signedOut' && !signedIn) {
      request.session.set('flash', { key: 'signed_out' })
      return seeOther(reply, '/login')
    }
    if (stale.done === 'signedIn' && signedIn) return seeOther(reply, '/profile')
    request.session.set('flash', { key: 'page_form_expired' })
    return seeOther(reply, stale.page)
  }

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.statusCode === 403) {
      if (error.code !== undefined && csrfFailures.has(error.code)) {
        const recovered = recoverStaleForm(request, reply)
        if (recovered !== undefined) return recovered
      }
      return await renderPage(request, reply, 'error', { title: 'page_forbidden_title', text: translate(localeOf(request), 'page_forbidden_text') }, 403)
    }
    const described = describeError(error, localeOf(request), request.id)
    if (described.unexpected) request.log.error({ err: error }, 'request failed')
    if (described.retryAfter !== undefined) reply.header('retry-after', String(described.retryAfter))
    const form = pageConfigOf(request).form
    if (form !== undefined && !described.unexpected) {
      const fieldErrors = Object.fromEntries(Object.entries(described.fieldErrors).filter(([field]) => form.fields.includes(field)))
      return await form.render(request, reply, {
        status: described.status,
        values: typedValues(request.body),
        fieldErrors,
        formError: Object.keys(fieldErrors).length === 0 ? described.detail : undefined,
        attemptsLeft: described.attemptsLeft,
        challenge: described.challenge
      })
    }
    return await renderPage(request, reply, 'error', {
      title: described.status === 404 ? 'page_not_found_title' : 'page_error_title',
      text: described.detail,
      // A 500 names the request id, so a person can quote it; the stack stays in the log.
      requestId: described.unexpected ? request.id : undefined
    }, described.status)
  })

  app.setNotFoundHandler(async (request, reply) => {
    return await renderPage(request, reply, 'error', { title: 'page_not_found_title', text: translate(localeOf(request), 'page_not_found_text') }, 404)
  })

  app.get('/', async (request, reply) => {
    if (request.session.get('sid') !== undefined) return seeOther(reply, '/profile')
    return seeOther(reply, request.session.get('pendingPhone') === undefined ? '/login' : '/login/code')
  })

  /** Where a signed-in browser that opens a sign-in page goes: its local `next`, never back to sign-in. */
  function signedInTarget (next: unknown): string {
    const target = localPathOr(next, '/profile')
    return /^\/login(?:[/?]|$)/.test(target) ? '/profile' : target
  }

  app.get('/login', { schema: { querystring: NextQuery } }, async (request, reply) => {
    if (request.session.get('sid') !== undefined) return seeOther(reply, signedInTarget(request.query.next))
    return await renderLogin(request, reply, freshForm)
  })

  app.post('/login', {
    schema: { body: Type.Object({ phone: Text(64), next: Type.Optional(Text(512)), challenge: Challenge }) },
    config: { form: { fields: ['phone'], render: renderLogin }, staleForm: { page: '/login', done: 'signedIn' } }
  }, async (request, reply) => {
    const sent = await auth.requestCode(request.body.phone, clientOf(request), localeOf(request))
    request.session.set('pendingPhone', sent.phone)
    request.session.set('resendAt', clock.now() + sent.resendIn * 1000)
    request.session.set('sentBy', sent.channel)
    request.session.set('next', localPathOr(request.body.next, '/profile'))
    return seeOther(reply, '/login/code')
  })

  app.get('/login/code', async (request, reply) => {
    if (request.session.get('sid') !== undefined) return seeOther(reply, '/profile')
    return await renderCode(request, reply, freshForm)
  })

  app.post('/login/code', {
    schema: { body: Type.Object({ auth_code: Text(16) }) },
    config: { form: { fields: ['auth_code'], render: renderCode }, staleForm: { page: '/login/code', done: 'signedIn' } }
  }, async (request, reply) => {
    const phone = request.session.get('pendingPhone')
    if (phone === undefined) return seeOther(reply, '/login')
    const session = await auth.verifyCode(phone, request.body.auth_code.trim(), 'web', clientOf(request))
    const next = localPathOr(request.session.get('next'), '/profile')
    // A sign-in over a session (a sign-in form posted from a signed-in browser) ends the old one
    // on the server: the fresh cookie no longer names it, so it would stay live, out of reach.
    const previous = request.session.get('sid')
    if (previous !== undefined) await auth.signOut(previous)
    // A fresh cookie at sign-in: nothing from before (CSRF secret, pending phone) carries over.
    request.session.regenerate()
    request.session.set('sid', session.sessionId)
    rememberDevice(request, reply, session.deviceToken, config.deviceTokenTtlDays)
    return seeOther(reply, next)
  })

  app.post('/login/resend', {
    schema: { body: Type.Object({ challenge: Challenge, channel: Type.Optional(Type.Union([Type.Literal('sms'), Type.Literal('whatsapp'), Type.Literal('voice')])) }) },
    config: { form: { fields: [], render: renderCode }, staleForm: { page: '/login/code', done: 'signedIn' } }
  }, async (request, reply) => {
    const phone = request.session.get('pendingPhone')
    if (phone === undefined) return seeOther(reply, '/login')
    const sent = await auth.requestCode(phone, clientOf(request), localeOf(request), request.body.channel)
    request.session.set('resendAt', clock.now() + sent.resendIn * 1000)
    request.session.set('sentBy', sent.channel)
    request.session.set('flash', { key: 'page_code_resent' })
    return seeOther(reply, '/login/code')
  })

  app.get('/profile', { preHandler: requireSignIn }, async (request, reply) => await renderProfile(request, reply, freshForm))

  app.post('/profile/invite', {
    preHandler: requireSignIn,
    schema: { body: Type.Object({ invite_code: Text(32) }) },
    config: { form: { fields: ['invite_code'], render: renderProfile }, staleForm: { page: '/profile' } }
  }, async (request, reply) => {
    await profile.activateInvite(signedIn(request).userId, request.body.invite_code)
    request.session.set('flash', { key: 'page_invite_activated' })
    return seeOther(reply, '/profile')
  })

  app.post('/profile/sessions/sign-out-others', { preHandler: requireSignIn, config: { staleForm: { page: '/profile' } } }, async (request, reply) => {
    const { userId, sessionId } = signedIn(request)
    const count = await auth.signOutOtherSessions(userId, sessionId)
    request.session.set('flash', { key: 'page_others_signed_out', count })
    return seeOther(reply, '/profile')
  })

  async function renderDelete (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    if (request.auth === undefined) await requireSignIn(request, reply)
    if (reply.sent) return reply
    const person = await profile.getProfile(signedIn(request).userId)
    return await renderPage(request, reply, 'delete', {
      title: 'page_delete_title', flash: takeFlash(request), form: state, phone: formatPhoneForDisplay(person.phone)
    }, state.status)
  }

  async function renderDeleteCode (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    if (request.auth === undefined) await requireSignIn(request, reply)
    if (reply.sent) return reply
    const person = await profile.getProfile(signedIn(request).userId)
    return await renderPage(request, reply, 'delete-code', {
      title: 'page_delete_title',
      flash: takeFlash(request),
      form: state,
      phone: formatPhoneForDisplay(person.phone),
      codeLength: config.otp.length,
      attemptsLeft: state.attemptsLeft
    }, state.status)
  }

  async function renderPhone (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    if (request.auth === undefined) await requireSignIn(request, reply)
    if (reply.sent) return reply
    return await renderPage(request, reply, 'phone', {
      title: 'page_phone_title', flash: takeFlash(request), form: state, phone: state.values.phone ?? ''
    }, state.status)
  }

  /** A step of the change of number that needs the new number from step one (in the cookie). */
  async function renderPhoneStep (request: FastifyRequest, reply: FastifyReply, state: FormState, step: 'phone-current' | 'phone-code'): Promise<FastifyReply> {
    if (request.auth === undefined) await requireSignIn(request, reply)
    if (reply.sent) return reply
    const newPhone = request.session.get('newPhone')
    if (newPhone === undefined) return seeOther(reply, '/profile/phone')
    const person = step === 'phone-current' ? await profile.getProfile(signedIn(request).userId) : undefined
    return await renderPage(request, reply, step, {
      title: 'page_phone_title',
      flash: takeFlash(request),
      form: state,
      phone: formatPhoneForDisplay(newPhone),
      currentPhone: person === undefined ? undefined : formatPhoneForDisplay(person.phone),
      codeLength: config.otp.length,
      attemptsLeft: state.attemptsLeft
    }, state.status)
  }

  const renderPhoneCurrent = async (request: FastifyRequest, reply: FastifyReply, state: FormState) => await renderPhoneStep(request, reply, state, 'phone-current')
  const renderPhoneCode = async (request: FastifyRequest, reply: FastifyReply, state: FormState) => await renderPhoneStep(request, reply, state, 'phone-code')

  app.get('/profile/phone', { preHandler: requireSignIn }, async (request, reply) => await renderPhone(request, reply, freshForm))

  // Step one: the new number; the code goes to the current number, the proof step two asks for.
  app.post('/profile/phone', {
    preHandler: requireSignIn,
    schema: { body: Type.Object({ phone: Text(64) }) },
    config: { form: { fields: ['phone'], render: renderPhone }, staleForm: { page: '/profile/phone' } }
  }, async (request, reply) => {
    const started = await auth.startPhoneChange(signedIn(request).userId, request.body.phone, clientOf(request), localeOf(request))
    request.session.set('newPhone', started.newPhone)
    return seeOther(reply, '/profile/phone/current')
  })

  app.get('/profile/phone/current', { preHandler: requireSignIn }, async (request, reply) => await renderPhoneCurrent(request, reply, freshForm))

  // Step two: the current number's code; then a code goes to the new number.
  app.post('/profile/phone/current', {
    preHandler: requireSignIn,
    schema: { body: Type.Object({ auth_code: Text(16), challenge: Challenge }) },
    config: { form: { fields: ['auth_code'], render: renderPhoneCurrent }, staleForm: { page: '/profile/phone/current' } }
  }, async (request, reply) => {
    const newPhone = request.session.get('newPhone')
    if (newPhone === undefined) return seeOther(reply, '/profile/phone')
    await auth.requestPhoneChangeCode(signedIn(request).userId, newPhone, request.body.auth_code.trim(), clientOf(request), localeOf(request))
    return seeOther(reply, '/profile/phone/code')
  })

  app.get('/profile/phone/code', { preHandler: requireSignIn }, async (request, reply) => await renderPhoneCode(request, reply, freshForm))

  app.post('/profile/phone/code', {
    preHandler: requireSignIn,
    schema: { body: Type.Object({ auth_code: Text(16) }) },
    config: { form: { fields: ['auth_code'], render: renderPhoneCode }, staleForm: { page: '/profile/phone/code' } }
  }, async (request, reply) => {
    const phone = request.session.get('newPhone')
    if (phone === undefined) return seeOther(reply, '/profile/phone')
    const { userId, sessionId } = signedIn(request)
    await auth.changePhone(userId, sessionId, phone, request.body.auth_code.trim(), clientOf(request), localeOf(request))
    request.session.set('newPhone', undefined)
    request.session.set('flash', { key: 'page_phone_changed' })
    return seeOther(reply, '/profile')
  })

  app.get('/profile/export', { preHandler: requireSignIn }, async (request, reply) => {
    const data = await profile.exportData(signedIn(request).userId)
    return await reply.header('content-disposition', 'attachment; filename="phonepass-my-data.json"')
      .header('cache-control', 'no-store')
      .type('application/json; charset=utf-8')
      .send(JSON.stringify(data, null, 2))
  })

  app.get('/profile/delete', { preHandler: requireSignIn }, async (request, reply) => await renderDelete(request, reply, freshForm))

  app.post('/profile/delete', {
    preHandler: requireSignIn,
    config: { form: { fields: [], render: renderDelete }, staleForm: { page: '/profile/delete' } }
  }, async (request, reply) => {
    await auth.requestDeletionCode(signedIn(request).userId, clientOf(request), localeOf(request))
    return seeOther(reply, '/profile/delete/code')
  })

  app.get('/profile/delete/code', { preHandler: requireSignIn }, async (request, reply) => await renderDeleteCode(request, reply, freshForm))

  app.post('/profile/delete/code', {
    preHandler: requireSignIn,
    schema: { body: Type.Object({ auth_code: Text(16) }) },
    config: { form: { fields: ['auth_code'], render: renderDeleteCode }, staleForm: { page: '/profile/delete/code' } }
  }, async (request, reply) => {
    await auth.deleteAccount(signedIn(request).userId, request.body.auth_code.trim(), clientOf(request))
    // The account's sessions are gone with it; a fresh cookie keeps nothing from it.
    request.session.regenerate()
    return seeOther(reply, '/account-deleted')
  })

  passkeyPageRoutes(fastify, { requireSignIn })

  app.get('/account-deleted', async (request, reply) => await renderPage(request, reply, 'deleted', { title: 'page_deleted_title' }))

  app.post('/logout', { config: { staleForm: { page: '/profile', done: 'signedOut' } } }, async (request, reply) => {
    const sid = request.session.get('sid')
    if (sid !== undefined) await auth.signOut(sid)
    request.session.regenerate()
    request.session.set('flash', { key: 'signed_out' })
    return seeOther(reply, '/login')
  })

  app.get('/language/:locale', {
    schema: { params: Type.Object({ locale: Type.Union(locales.map(code => Type.Literal(code))) }), querystring: NextQuery }
  }, async (request, reply) => {
    reply.setCookie(languageCookie, request.params.locale, {
      path: '/', sameSite: 'lax', httpOnly: true, secure: isHttps(request), maxAge: 365 * 86_400
    })
    return seeOther(reply, localPathOr(request.query.next, '/'))
  })

  // The support pages: in this context, so they share its locks, its error page and its 404.
  await fastify.register(adminPageRoutes, { config, clock })
}
