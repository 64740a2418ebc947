import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config.js'
import type { Clock } from '../../services/clock.js'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DomainError } from '../../domain/errors.js'
import { formatPhoneForDisplay } from '../../domain/phone.js'
import { keptFormat, translate, type MessageKey } from '../../i18n/catalogue.js'
import type { Actor, AdminCaller, AdminService, AdminUserView } from '../../services/admin-service.js'
import { clientIp } from '../client-ip.js'
import { serverRequestIdOf } from '../request-id.js'
import { adminUserView, auditEntryView, counterView, fraudOverviewView, passkeyView, sessionView, spendView, userSummaryView } from './admin-view-model.js'
import { freshForm, localeOf, renderPage, seeOther, takeFlash, type FormState } from './render.js'
import { readDeviceToken, rememberDevice } from './session.js'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'
import { AuthenticationResponse } from '../api/passkey-schemas.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** On the support pages: the admin signed in now, as the audit log names them. */
    adminActor?: Actor
    /** On the support pages: the admin's account. */
    adminUserId?: number
    /** On the support pages: whether the admin's sign-in is recent enough (ADMIN_SESSION_HOURS), and when a code last proved it. */
    adminSignIn?: { fresh: boolean, provedAt: number, passkeyProved: boolean }
  }
}

const Text = (maxLength: number) => Type.String({ maxLength })
const UserParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) })
const CursorQuery = Type.Object({ cursor: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })) })
// The service bounds a reason (reason_invalid, beside the field); the schema only bounds the body.
const Reason = Type.Optional(Text(2000))
const SessionId = Text(64)
// A credential id, base64url (as the passkey API's paths take it).
const PasskeyId = Text(1400)

// What each action on an account is called on its confirmation page. `proof`: the action cannot be undone (sessions ended, a block's sessions, a deletion), so it
// asks for a fresh code to the admin's own phone unless one was proved in ADMIN_PROOF_MINUTES.
const userActions = {
  'end-sessions': { title: 'page_admin_confirm_end_sessions', text: 'page_admin_confirm_end_sessions_text', button: 'page_admin_do_end_sessions', reasonRequired: false, danger: false, proof: true },
  block: { title: 'page_admin_confirm_block', text: 'page_admin_confirm_block_text', button: 'page_admin_do_block', reasonRequired: true, danger: true, proof: true },
  unblock: { title: 'page_admin_confirm_unblock', text: 'page_admin_confirm_unblock_text', button: 'page_admin_do_unblock', reasonRequired: false, danger: false, proof: false },
  delete: { title: 'page_admin_confirm_delete', text: 'page_admin_confirm_delete_text', button: 'page_admin_do_delete', reasonRequired: false, danger: true, proof: true },
  'clear-limits': { title: 'page_admin_confirm_clear_limits', text: 'page_admin_confirm_clear_limits_text', button: 'page_admin_do_clear_limits', reasonRequired: false, danger: false, proof: false }
} as const satisfies Record<string, { title: MessageKey, text: MessageKey, button: MessageKey, reasonRequired: boolean, danger: boolean, proof: boolean }>

// The fraud guard's verdicts (issue 23), on a destination's confirmation page. A block refuses
// people codes, so, as the other actions that hurt, it asks for a fresh proof.
const fraudActions = {
  // Allowing a range turns the guard off there: SMS pumping to it costs money until someone notices.
  allow: { title: 'page_admin_fraud_confirm_allow', text: 'page_admin_fraud_confirm_allow_text', button: 'page_admin_fraud_allow', reasonRequired: true, danger: false, proof: true },
  block: { title: 'page_admin_fraud_confirm_block', text: 'page_admin_fraud_confirm_block_text', button: 'page_admin_fraud_block', reasonRequired: true, danger: true, proof: true },
  clear: { title: 'page_admin_fraud_confirm_clear', text: 'page_admin_fraud_confirm_clear_text', button: 'page_admin_fraud_clear', reasonRequired: false, danger: false, proof: false }
} as const satisfies Record<string, { title: MessageKey, text: MessageKey, button: MessageKey, reasonRequired: boolean, danger: boolean, proof: boolean }>
type FraudAction = keyof typeof fraudActions
const FraudActionName = Type.Union([Type.Literal('allow'), Type.Literal('block'), Type.Literal('clear')])

type UserAction = keyof typeof userActions
/** A confirmation's form, and whether a proof code was just sent. */
type ConfirmState = FormState & { codeSent?: boolean }
const userActionNames = Object.keys(userActions) as UserAction[]

/** Where an action leads, with the message the next page shows. */
interface Done {
  flash: { key: MessageKey, count?: number }
  to?: string
}

/** Each action: one call to the admin service, and the words for what it did. */
const performers: Record<UserAction, (admin: AdminService, by: AdminCaller, userId: number, reason: string | undefined) => Promise<Done>> = {
  'end-sessions': async (admin, by, userId, reason) => {
    const result = await admin.revokeAllSessions(by, userId, reason)
    return { flash: { key: 'page_admin_done_end_sessions', count: result.revoked } }
  },
  block: async (admin, by, userId, reason) => {
    const result = await admin.blockUser(by, userId, reason ?? '')
    return { flash: result.changed ? { key: 'page_admin_done_block', count: result.revoked } : { key: 'page_admin_done_block_unchanged' } }
  },
  unblock: async (admin, by, userId, reason) => {
    const result = await admin.unblockUser(by, userId, reason)
    return { flash: { key: result.changed ? 'page_admin_done_unblock' : 'page_admin_done_unblock_unchanged' } }
  },
  delete: async (admin, by, userId, reason) => {
    await admin.deleteUser(by, userId, reason)
    return { flash: { key: 'page_admin_done_delete' }, to: '/admin' }
  },
  'clear-limits': async (admin, by, userId, reason) => {
    const result = await admin.clearLimits(by, userId, reason)
    return { flash: { key: 'page_admin_done_clear_limits', count: result.deleted } }
  }
}

function filled (text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text
}

/**
 * The support pages at /admin (docs/ARCHITECTURE.md, "Support pages"). Registered inside the
 * pages' context, so they share its cross-site and CSRF locks, its error page and its 404.
 *
 * Only a person signed in now whose phone is in ADMIN_PHONES now sees them; to anyone else
 * every path here is an unknown path, down to the answer to a post without a token (the 403
 * page) or with a body of another type. So the check runs before the body is read (onRequest),
 * and the refusal is given after the CSRF check (preValidation), by the app's own 404 handler.
 */
export async function adminPageRoutes (fastify: FastifyInstance, { config, clock }: { config: Config, clock: Clock }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { auth, admin, fraudAdmin, passkeys } = app.services

  // An unknown path reads no body of another type (no 415); nor do these paths for a stranger.
  // An admin posting one gets the form's "fields missing" message.
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null, undefined) })

  async function signedInAdmin (request: FastifyRequest): Promise<{ actor: Actor, fresh: boolean, provedAt: number, passkeyProved: boolean } | undefined> {
    const sid = request.session.get('sid')
    if (sid === undefined) return undefined
    try {
      const userId = (await auth.authenticateSession(sid)).userId
      const found = await admin.adminOfSession(sid, userId)
      if (found !== undefined) request.adminUserId = userId
      return found
    } catch (error) {
      if (error instanceof DomainError && error.code === 'token_not_valid') return undefined
      throw error
    }
  }

  app.addHook('onRequest', async (request) => {
    // Until an admin is found (the look-up may fail too: a database away), any refusal is an unknown path's.
    request.answersAsUnknownPath = true
    const found = await signedInAdmin(request)
    if (found === undefined) return
    request.adminActor = found.actor
    request.adminSignIn = { fresh: found.fresh, provedAt: found.provedAt, passkeyProved: found.passkeyProved }
    request.answersAsUnknownPath = false
  })

  // After the pages' CSRF check (registered before, in the parent context), before the body is
  // validated: a stranger's post gets the same 403 or 404 as on an unknown path.
  // Then, for an admin: from an allowed network (ADMIN_ALLOWED_NETWORKS), and signed in within
  // ADMIN_SESSION_HOURS (from the session row: a long-lived session does not keep the pages open).
  app.addHook('preValidation', async (request, reply) => {
    if (request.adminActor === undefined) {
      reply.callNotFound()
      return reply
    }
    const locale = localeOf(request)
    if (!admin.fromAllowedNetwork(clientIp(request))) {
      return await renderPage(request, reply, 'error', { title: 'page_forbidden_title', text: translate(locale, 'admin_network_refused') }, 403)
    }
    if (request.adminSignIn?.fresh !== true) {
      const hours = Math.round(config.adminAccess.sessionMs / 3_600_000)
      return await renderPage(request, reply, 'error', { title: 'page_admin_signed_in_too_long_title', text: translate(locale, 'page_admin_signed_in_too_long_text', { hours }) }, 403)
    }
    // ADMIN_PASSKEY: after the phone code, the admin's own passkey (a SIM swap alone is not
    // admin access). Until then every page but the passkey step sends there.
    if (request.adminSignIn.passkeyProved !== true && !isPasskeyStep(request.url)) {
      if (request.method === 'GET') return seeOther(reply, '/admin/passkey')
      return await renderPage(request, reply, 'error', { title: 'page_forbidden_title', text: translate(locale, 'passkey_required') }, 403)
    }
  })

  function isPasskeyStep (url: string): boolean {
    return /^\/admin\/passkey(?:\/options)?\/?(?:\?|$)/.test(url)
  }

  /** The admin's second factor: confirm with their passkey, or add the first one (at the first sign-in). */
  app.get('/admin/passkey', async (request, reply) => {
    const { userId } = signedInSession(request)
    const hasPasskey = await passkeys.hasPasskey(userId)
    return await renderPage(request, reply, 'admin/passkey', {
      title: 'page_admin_passkey_title',
      flash: takeFlash(request),
      hasPasskey,
      proved: request.adminSignIn?.passkeyProved === true
    })
  })

  app.post('/admin/passkey/options', async (request, reply) => {
    const options = await passkeys.proofOptions(signedInSession(request), clientOf(request))
    return await reply.header('cache-control', 'no-store').send(options)
  })

  app.post('/admin/passkey', { schema: { body: Type.Object({ response: AuthenticationResponse }) } }, async (request, reply) => {
    await passkeys.proveSession(signedInSession(request), request.body.response as unknown as AuthenticationResponseJSON)
    return await reply.header('cache-control', 'no-store').send({ next: '/admin' })
  })

  function signedInSession (request: FastifyRequest): { userId: number, sessionId: string } {
    const sid = request.session.get('sid')
    const userId = request.adminActor === undefined ? undefined : request.adminUserId
    if (sid === undefined || userId === undefined) throw new DomainError('not_found')
    return { userId, sessionId: sid }
  }

  function clientOf (request: FastifyRequest) {
    return { ip: clientIp(request), userAgent: request.headers['user-agent'], deviceToken: readDeviceToken(request) }
  }

  /** Whether the admin proved a code to their own phone (a sign-in or a proof) within ADMIN_PROOF_MINUTES. */
  function provedRecently (request: FastifyRequest): boolean {
    return request.adminSignIn !== undefined && clock.now() - request.adminSignIn.provedAt < config.adminAccess.proofMs
  }

  /**
   * A fresh proof for an action that cannot be undone: with `send_code`, a code to the admin's
   * own phone (the confirmation is shown again, "code sent"); with `auth_code`, the code signs
   * the admin in again (a new session, the old one ended: its created_at is the proof, kept on
   * the server), then the action runs. Refusals (a wrong code, too many) go beside the field.
   * 'proved': the action may run.
   */
  async function proveAdmin (request: FastifyRequest, reply: FastifyReply, body: { send_code?: string | undefined, auth_code?: string | undefined }): Promise<'proved' | 'sent'> {
    const phone = request.adminActor?.name
    if (phone === undefined) throw new DomainError('not_found')
    if (body.send_code !== undefined) {
      await auth.requestCode(phone, clientOf(request), localeOf(request))
      return 'sent'
    }
    const code = filled(body.auth_code)?.trim()
    if (code === undefined) throw new DomainError('code_not_found', { field: 'auth_code' })
    const signed = await auth.verifyCode(phone, code, 'web', clientOf(request))
    const previous = request.session.get('sid')
    if (previous !== undefined) await auth.signOut(previous)
    request.session.regenerate()
    request.session.set('sid', signed.sessionId)
    rememberDevice(request, reply, signed.deviceToken, config.deviceTokenTtlDays)
    return 'proved'
  }

  function caller (request: FastifyRequest): AdminCaller {
    if (request.adminActor === undefined) throw new DomainError('not_found')
    return { actor: request.adminActor, ip: clientIp(request), requestId: request.id, serverRequestId: serverRequestIdOf(request) }
  }

  /** The id in the address; none when it is not one (a form shown again after its params were refused). */
  function userIdOf (request: FastifyRequest): number | undefined {
    const id = (request.params as { id?: unknown }).id
    return typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : undefined
  }

  /**
   * The account, or undefined once the "no such account" page is sent: the account may be
   * deleted between two pages, and a form shown again after a refusal must not fail.
   */
  async function loadUser (request: FastifyRequest, reply: FastifyReply): Promise<AdminUserView | undefined> {
    try {
      const id = userIdOf(request)
      if (id === undefined) throw new DomainError('user_not_found', { field: 'id' })
      return await admin.showUser(caller(request), id)
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== 'user_not_found') throw error
      await renderPage(request, reply, 'error', { title: 'page_not_found_title', text: translate(localeOf(request), 'user_not_found') }, 404)
      return undefined
    }
  }

  interface SearchOutcome {
    /** Nothing found for the phone or code asked for. */
    nothingFound: boolean
    /** The phone asked for, when it has no account, and its counters (limits count before sign-up). */
    phone?: { e164: string, shown: string, limits: ReturnType<typeof counterView>[] }
  }

  async function renderHome (request: FastifyRequest, reply: FastifyReply, state: FormState, search?: SearchOutcome): Promise<FastifyReply> {
    const locale = localeOf(request)
    const cursor = request.method === 'GET' ? (request.query as { cursor?: number }).cursor : undefined
    const [page, spend] = await Promise.all([admin.findUsers(caller(request), { cursor }), admin.smsSpend()])
    return await renderPage(request, reply, 'admin/home', {
      title: 'page_admin_title',
      wide: true,
      current: cursor === undefined ? 'users' : undefined,
      flash: takeFlash(request),
      form: state,
      values: state.values,
      search,
      users: page.users.map(user => userSummaryView(locale, user)),
      olderHref: page.nextCursor === null ? undefined : `/admin?cursor=${page.nextCursor}`,
      newestHref: cursor === undefined ? undefined : '/admin',
      spend: spendView(locale, spend)
    }, state.status)
  }

  async function renderUser (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    const user = await loadUser(request, reply)
    if (user === undefined) return reply
    const view = adminUserView(localeOf(request), user)
    return await renderPage(request, reply, 'admin/user', {
      title: 'page_admin_user_title',
      titleParams: { phone: view.phone },
      wide: true,
      flash: takeFlash(request),
      form: state,
      user: view
    }, state.status)
  }

  async function renderConfirm (action: UserAction, request: FastifyRequest, reply: FastifyReply, state: ConfirmState): Promise<FastifyReply> {
    const user = await loadUser(request, reply)
    if (user === undefined) return reply
    const view = adminUserView(localeOf(request), user)
    return await renderPage(request, reply, 'admin/confirm', {
      title: userActions[action].title,
      titleParams: { phone: view.phone },
      wide: true,
      form: state,
      reason: state.values.reason ?? '',
      action: { ...userActions[action], href: `/admin/users/${user.id}/${action}` },
      proofNeeded: userActions[action].proof && !provedRecently(request),
      codeSent: state.codeSent === true,
      user: view,
      back: `/admin/users/${user.id}`
    }, state.status)
  }

  /** Ending one session: the id travels in a form, never in an address (it names a sign-in). */
  async function renderSessionConfirm (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    const user = await loadUser(request, reply)
    if (user === undefined) return reply
    const locale = localeOf(request)
    const live = user.sessions.find(session => session.id === state.values.session_id)
    if (live === undefined) {
      // Ended or never this account's: the account's page says so, with its sessions as they are.
      return await renderUser(request, reply, { ...freshForm, status: 404, formError: state.formError ?? translate(locale, 'session_not_found') })
    }
    const view = adminUserView(locale, user)
    return await renderPage(request, reply, 'admin/confirm', {
      title: 'page_admin_confirm_end_session',
      titleParams: { phone: view.phone },
      wide: true,
      form: state,
      reason: state.values.reason ?? '',
      action: { text: 'page_admin_confirm_end_session_text', button: 'page_admin_do_end_session', reasonRequired: false, danger: false, href: `/admin/users/${user.id}/sessions/end` },
      hidden: { session_id: live.id },
      session: sessionView(locale, live),
      user: view,
      back: `/admin/users/${user.id}`
    }, state.status)
  }

  /** Clearing the counters of a phone without an account: the phone travels in a form, as the session id. */
  async function renderPhoneConfirm (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    const phone = state.values.phone ?? ''
    return await renderPage(request, reply, 'admin/confirm', {
      title: 'page_admin_confirm_clear_limits',
      titleParams: { phone: formatPhoneForDisplay(phone) },
      wide: true,
      form: state,
      reason: state.values.reason ?? '',
      action: { ...userActions['clear-limits'], href: '/admin/limits/clear' },
      hidden: { phone },
      back: '/admin'
    }, state.status)
  }

  app.get('/admin', { schema: { querystring: CursorQuery } }, async (request, reply) => await renderHome(request, reply, freshForm))

  app.post('/admin/search', {
    schema: { body: Type.Object({ phone: Type.Optional(Text(64)), invite_code: Type.Optional(Text(32)) }) },
    config: { form: { fields: ['phone', 'invite_code'], render: renderHome }, staleForm: { page: '/admin' } }
  }, async (request, reply) => {
    const phone = filled(request.body.phone)
    const inviteCode = filled(request.body.invite_code)
    if (phone === undefined && inviteCode === undefined) return seeOther(reply, '/admin')
    // A phone and an invite code are each one account's at most: a match goes to its page, so
    // neither ever sits in an address.
    const [found] = (await admin.findUsers(caller(request), { phone, inviteCode, limit: 1 })).users
    if (found !== undefined) return seeOther(reply, `/admin/users/${found.id}`)
    const locale = localeOf(request)
    const limits = phone === undefined || inviteCode !== undefined ? undefined : await admin.phoneLimits(caller(request), phone)
    const values = { phone: phone ?? '', invite_code: inviteCode ?? '' }
    return await renderHome(request, reply, { ...freshForm, values }, {
      nothingFound: true,
      ...(limits === undefined ? {} : { phone: { e164: limits.phone, shown: formatPhoneForDisplay(limits.phone), limits: limits.limits.map(counter => counterView(locale, counter)) } })
    })
  })

  app.get('/admin/audit', { schema: { querystring: CursorQuery } }, async (request, reply) => {
    const locale = localeOf(request)
    const cursor = request.query.cursor
    const page = await admin.listAudit(caller(request), { cursor })
    return await renderPage(request, reply, 'admin/audit', {
      title: 'page_admin_audit_title',
      wide: true,
      current: cursor === undefined ? 'audit' : undefined,
      entries: page.entries.map(entry => auditEntryView(locale, entry)),
      olderHref: page.nextCursor === null ? undefined : `/admin/audit?cursor=${page.nextCursor}`,
      newestHref: cursor === undefined ? undefined : '/admin/audit'
    })
  })

  app.get('/admin/users/:id', { schema: { params: UserParams } }, async (request, reply) => await renderUser(request, reply, freshForm))

  // Each action: its confirmation (GET, which changes nothing) and the post that does it.
  for (const action of userActionNames) {
    const render = async (request: FastifyRequest, reply: FastifyReply, state: ConfirmState) => await renderConfirm(action, request, reply, state)
    app.get(`/admin/users/:id/${action}`, { schema: { params: UserParams } }, async (request, reply) => await render(request, reply, freshForm))
    app.post(`/admin/users/:id/${action}`, {
      schema: { params: UserParams, body: Type.Object({ reason: Reason, auth_code: Type.Optional(Text(16)), send_code: Type.Optional(Text(8)) }) },
      config: { form: { fields: ['reason', 'auth_code'], render }, staleForm: { page: '/admin' } }
    }, async (request, reply) => {
      const id = request.params.id
      if (userActions[action].proof && !provedRecently(request)) {
        if (await proveAdmin(request, reply, request.body) === 'sent') {
          return await render(request, reply, { ...freshForm, values: { reason: request.body.reason ?? '' }, codeSent: true })
        }
      }
      const done = await performers[action](admin, caller(request), id, filled(request.body.reason))
      request.session.set('flash', done.flash)
      return seeOther(reply, done.to ?? `/admin/users/${id}`)
    })
  }

  app.post('/admin/users/:id/sessions/confirm', {
    schema: { params: UserParams, body: Type.Object({ session_id: SessionId }) },
    config: { form: { fields: [], render: renderUser }, staleForm: { page: '/admin' } }
  }, async (request, reply) => await renderSessionConfirm(request, reply, { ...freshForm, values: { session_id: request.body.session_id } }))

  app.post('/admin/users/:id/sessions/end', {
    schema: { params: UserParams, body: Type.Object({ session_id: SessionId, reason: Reason }) },
    config: { form: { fields: ['reason'], render: renderSessionConfirm }, staleForm: { page: '/admin' } }
  }, async (request, reply) => {
    const result = await admin.revokeSession(caller(request), request.params.id, request.body.session_id, filled(request.body.reason))
    request.session.set('flash', { key: 'page_admin_done_end_sessions', count: result.revoked })
    return seeOther(reply, `/admin/users/${request.params.id}`)
  })

  /** Removing a passkey: its id travels in a form, as a session's; it needs a fresh proof, as other actions that take something away. */
  async function renderPasskeyConfirm (request: FastifyRequest, reply: FastifyReply, state: ConfirmState): Promise<FastifyReply> {
    const user = await loadUser(request, reply)
    if (user === undefined) return reply
    const locale = localeOf(request)
    const passkey = user.passkeys.find(candidate => candidate.id === state.values.passkey_id)
    if (passkey === undefined) {
      // Removed meanwhile or never this account's: the account's page says so.
      return await renderUser(request, reply, { ...freshForm, status: 404, formError: state.formError ?? translate(locale, 'passkey_not_found') })
    }
    const view = adminUserView(locale, user)
    return await renderPage(request, reply, 'admin/confirm', {
      title: 'page_admin_confirm_remove_passkey',
      titleParams: { phone: view.phone },
      wide: true,
      form: state,
      reason: state.values.reason ?? '',
      action: { text: 'page_admin_confirm_remove_passkey_text', button: 'page_admin_do_remove_passkey', reasonRequired: false, danger: true, href: `/admin/users/${user.id}/passkeys/remove` },
      hidden: { passkey_id: passkey.id },
      passkey: passkeyView(locale, passkey),
      proofNeeded: !provedRecently(request),
      codeSent: state.codeSent === true,
      user: view,
      back: `/admin/users/${user.id}`
    }, state.status)
  }

  app.post('/admin/users/:id/passkeys/confirm', {
    schema: { params: UserParams, body: Type.Object({ passkey_id: PasskeyId }) },
    config: { form: { fields: [], render: renderUser }, staleForm: { page: '/admin' } }
  }, async (request, reply) => await renderPasskeyConfirm(request, reply, { ...freshForm, values: { passkey_id: request.body.passkey_id } }))

  app.post('/admin/users/:id/passkeys/remove', {
    schema: { params: UserParams, body: Type.Object({ passkey_id: PasskeyId, reason: Reason, auth_code: Type.Optional(Text(16)), send_code: Type.Optional(Text(8)) }) },
    config: { form: { fields: ['reason', 'auth_code'], render: renderPasskeyConfirm }, staleForm: { page: '/admin' } }
  }, async (request, reply) => {
    const { passkey_id: passkeyId, reason } = request.body
    if (!provedRecently(request) && await proveAdmin(request, reply, request.body) === 'sent') {
      return await renderPasskeyConfirm(request, reply, { ...freshForm, values: { passkey_id: passkeyId, reason: reason ?? '' }, codeSent: true })
    }
    await admin.removePasskey(caller(request), request.params.id, passkeyId, filled(reason))
    request.session.set('flash', { key: 'page_admin_done_remove_passkey' })
    return seeOther(reply, `/admin/users/${request.params.id}`)
  })

  app.post('/admin/limits/confirm', {
    schema: { body: Type.Object({ phone: Text(64) }) },
    config: { form: { fields: ['phone'], render: renderHome }, staleForm: { page: '/admin' } }
  }, async (request, reply) => {
    const { phone } = await admin.phoneLimits(caller(request), request.body.phone)
    return await renderPhoneConfirm(request, reply, { ...freshForm, values: { phone } })
  })

  app.post('/admin/limits/clear', {
    schema: { body: Type.Object({ phone: Text(64), reason: Reason }) },
    config: { form: { fields: ['reason'], render: renderPhoneConfirm }, staleForm: { page: '/admin' } }
  }, async (request, reply) => {
    const result = await admin.clearPhoneLimits(caller(request), request.body.phone, filled(request.body.reason))
    request.session.set('flash', { key: 'page_admin_done_clear_limits', count: result.deleted })
    return seeOther(reply, '/admin')
  })

  /** The fraud guard's page: destinations with figures, reasons and verdicts; the verdicts; another destination. */
  async function renderFraud (request: FastifyRequest, reply: FastifyReply, state: FormState): Promise<FastifyReply> {
    const locale = localeOf(request)
    const overview = fraudOverviewView(locale, await fraudAdmin.overview(caller(request)))
    const percent = keptFormat(`percent:${locale}`, () => new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }))
    // Delivery by channel and country, from the receipts (issue 25): beside the guard's figures.
    const delivery = (await app.services.channels.deliveryRates()).map(rate => ({ ...rate, rate: rate.rate === null ? '—' : percent.format(rate.rate) }))
    return await renderPage(request, reply, 'admin/fraud', {
      delivery,
      title: 'page_admin_fraud_title',
      wide: true,
      current: 'fraud',
      flash: takeFlash(request),
      form: state,
      values: state.values,
      prefixDigits: config.fraudGuard.prefixDigits,
      fraud: overview
    }, state.status)
  }

  /** A verdict's confirmation: the destination and the action travel in the form, as typed or linked. */
  async function renderFraudConfirm (request: FastifyRequest, reply: FastifyReply, state: ConfirmState): Promise<FastifyReply> {
    const action = (state.values.action ?? 'allow') as FraudAction
    const chosen = fraudActions[action] ?? fraudActions.allow
    const destination = state.values.destination ?? ''
    return await renderPage(request, reply, 'admin/confirm', {
      title: chosen.title,
      titleParams: { destination },
      wide: true,
      form: state,
      reason: state.values.reason ?? '',
      action: { ...chosen, href: '/admin/fraud/rules' },
      hidden: { destination, action },
      proofNeeded: chosen.proof && !provedRecently(request),
      codeSent: state.codeSent === true,
      back: '/admin/fraud'
    }, state.status)
  }

  app.get('/admin/fraud', async (request, reply) => await renderFraud(request, reply, freshForm))

  // From a destination's links and from the page's form (a GET: it changes nothing).
  app.get('/admin/fraud/confirm', {
    schema: { querystring: Type.Object({ action: FraudActionName, destination: Text(64) }) }
  }, async (request, reply) => {
    const { action, destination } = request.query
    let parsed: string
    try {
      parsed = fraudAdmin.parseDestination(destination).name
    } catch (error) {
      if (!(error instanceof DomainError)) throw error
      // Typed on the page: the page again, with the message beside the field.
      const fieldErrors = { destination: [translate(localeOf(request), error.code)] }
      return await renderFraud(request, reply, { ...freshForm, status: error.status, values: { destination }, fieldErrors })
    }
    return await renderFraudConfirm(request, reply, { ...freshForm, values: { destination: parsed, action } })
  })

  app.post('/admin/fraud/rules', {
    schema: { body: Type.Object({ destination: Text(64), action: FraudActionName, reason: Reason, auth_code: Type.Optional(Text(16)), send_code: Type.Optional(Text(8)) }) },
    config: { form: { fields: ['reason', 'auth_code'], render: renderFraudConfirm }, staleForm: { page: '/admin/fraud' } }
  }, async (request, reply) => {
    const { destination, action, reason } = request.body
    if (fraudActions[action].proof && !provedRecently(request)) {
      if (await proveAdmin(request, reply, request.body) === 'sent') {
        return await renderFraudConfirm(request, reply, { ...freshForm, values: { destination, action, reason: reason ?? '' }, codeSent: true })
      }
    }
    const by = caller(request)
    let flash: MessageKey
    if (action === 'clear') {
      flash = (await fraudAdmin.clearVerdict(by, destination, filled(reason))).changed ? 'page_admin_fraud_done_clear' : 'page_admin_fraud_done_clear_unchanged'
    } else {
      await fraudAdmin.setVerdict(by, { destination, verdict: action, reason })
      flash = action === 'allow' ? 'page_admin_fraud_done_allow' : 'page_admin_fraud_done_block'
    }
    request.session.set('flash', { key: flash })
    return seeOther(reply, '/admin/fraud')
  })
}
