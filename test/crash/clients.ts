import { request, type Agent } from 'undici'
import type { SmsSink } from '../helpers/sms-sink.js'
import type { CodeState, Ledger, LedgerSession, LedgerUser } from './ledger.js'

// The crash test's clients: loops that sign in new and known phones, activate invite codes,
// refresh, log out and read profiles, writing every 2xx into the ledger as it arrives and
// checking every answer against what the ledger already holds.

interface Answer { status: number, body: Record<string, unknown> }
/** refused: no connection, so the request never reached a server; lost: it may have. */
type Outcome = Answer | 'refused' | 'lost'

/** Lets the loops through while a server is up; they wait here while it is down. */
export class Gate {
  #opened: Promise<void> = Promise.resolve()
  #open: () => void = () => {}
  close (): void { this.#opened = new Promise(resolve => { this.#open = resolve }) }
  open (): void { this.#open() }
  async wait (): Promise<void> { await this.#opened }
}

interface Own { users: LedgerUser[], sessions: LedgerSession[] }

const sessionIdOf = (access: string): string =>
  (JSON.parse(Buffer.from(access.split('.')[1] ?? '', 'base64url').toString()) as { sid: string }).sid

export class Clients {
  /** Answers that contradict the ledger, 5xx, unexpected refusals: each one fails the test. */
  readonly problems: string[] = []
  readonly stats = { requests: 0, answers: 0, refused: 0, lost: 0, activations: 0, logouts: 0 }
  readonly gate = new Gate()
  #nextPhone = 1_000_000

  constructor (
    readonly url: string,
    readonly ledger: Ledger,
    readonly sms: SmsSink,
    readonly agent: Agent,
    readonly random: () => number
  ) {}

  get inFlight (): number {
    return this.stats.requests - this.stats.answers - this.stats.refused - this.stats.lost
  }

  /** Starts `count` loops; `stop` lets each finish the operation it is in and resolves when all have. */
  run (count: number): { stop: () => Promise<void> } {
    let stopping = false
    const loops = Array.from({ length: count }, async () => {
      const own: Own = { users: [], sessions: [] }
      while (true) {
        await this.gate.wait()
        if (stopping) return
        await this.#operate(own)
      }
    })
    return {
      stop: async () => {
        stopping = true
        await Promise.all(loops)
      }
    }
  }

  /**
   * After the last restart, with nothing in flight: each session's newest refresh token works
   * and then shows the ledger's profile; a logged-out session's token is refused.
   */
  async checkSessions (parallel: number): Promise<{ refreshed: number, refused: number, unknown: number }> {
    const outcomes = { refreshed: 0, refused: 0, unknown: 0 }
    const queue = [...this.ledger.sessions]
    await Promise.all(Array.from({ length: parallel }, async () => {
      for (let session = queue.pop(); session !== undefined; session = queue.pop()) {
        if (session.lost !== undefined) { outcomes.unknown++; continue }
        const answer = await this.#call('POST', '/api/token/refresh/', { refresh: session.refresh })
        if (typeof answer === 'string') { this.problems.push(`final refresh of ${session.id}: ${answer}`); continue }
        if (session.loggedOut) {
          if (answer.status === 401 && answer.body.code === 'token_not_valid') outcomes.refused++
          else this.#unexpected(`final refresh of logged-out ${session.id}`, answer)
          continue
        }
        if (answer.status !== 200) { this.#unexpected(`final refresh of ${session.id}`, answer); continue }
        this.#rotated(session, answer)
        outcomes.refreshed++
        await this.#readProfile(session)
      }
    }))
    return outcomes
  }

  #pick<T> (items: readonly T[]): T | undefined {
    return items[Math.floor(this.random() * items.length)]
  }

  async #operate (own: Own): Promise<void> {
    const choice = this.random()
    if (own.users.length === 0 || choice < 0.25) return await this.#signIn(own, `+7912${String(this.#nextPhone++).padStart(7, '0')}`)
    const session = this.#pick(own.sessions.filter(session => !session.loggedOut && session.lost === undefined))
    if (session === undefined || choice < 0.3) {
      const user = this.#pick(own.users)!
      return await this.#signIn(own, user.phone, user)
    }
    if (choice < 0.5) {
      const user = this.ledger.users.get(session.phone)!
      if (user.activation === 'none' && await this.#activate(user, session)) return
      return await this.#readProfile(session)
    }
    if (choice < 0.75) return await this.#refresh(session)
    if (choice < 0.82) return await this.#logout(session)
    return await this.#readProfile(session)
  }

  async #call (method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown, access?: string): Promise<Outcome> {
    this.stats.requests++
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (access !== undefined) headers.authorization = `Bearer ${access}`
    let status: number
    let text: string
    try {
      const response = await request(this.url + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: this.agent, headersTimeout: 15_000, bodyTimeout: 15_000
      })
      status = response.statusCode
      text = await response.body.text()
    } catch (error) {
      const code = (error as { code?: string }).code
      if (code === 'ECONNREFUSED') { this.stats.refused++; return 'refused' }
      // A live server always answers; only a kill may swallow an answer.
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') this.problems.push(`${method} ${path}: no answer in 15 s`)
      this.stats.lost++
      return 'lost'
    }
    this.stats.answers++
    try {
      return { status, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown> }
    } catch {
      return { status, body: { text } }
    }
  }

  #unexpected (what: string, answer: Answer): void {
    this.problems.push(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`)
  }

  /** The profile the server shows must be the ledger's user; `knownInvited`: 2xx invitations before the request. */
  #checkProfile (what: string, user: LedgerUser, profile: Record<string, unknown>, knownInvited?: number): void {
    const inviterCode = user.inviterPhone === undefined ? undefined : this.ledger.users.get(user.inviterPhone)?.inviteCode
    const activated = profile.activated_invite_code
    const activationOk = user.activation === 'none'
      ? activated === null
      : user.activation === 'done' ? activated === inviterCode : activated === null || activated === inviterCode
    if (profile.id !== user.id || profile.phone !== user.phone || profile.invite_code !== user.inviteCode || !activationOk) {
      this.problems.push(`${what}: profile ${JSON.stringify(profile)} is not the ledger's ${JSON.stringify(user)}`)
    }
    if (knownInvited !== undefined) {
      const count = profile.users_invited_count as number
      const most = (this.ledger.invitedKnown.get(user.phone) ?? 0) + (this.ledger.invitedMaybe.get(user.phone) ?? 0)
      if (count < knownInvited || count > most) this.problems.push(`${what}: ${user.phone} invited ${count}, the ledger says ${knownInvited}..${most}`)
    }
  }

  #setCode (phone: string, state: CodeState | undefined): void {
    if (state === undefined) this.ledger.codes.delete(phone)
    else this.ledger.codes.set(phone, state)
  }

  async #signIn (own: Own, phone: string, existing?: LedgerUser): Promise<void> {
    const { ledger } = this
    const before = ledger.codes.get(phone)
    this.#setCode(phone, 'pending')
    const registered = await this.#call('POST', '/api/users/register/', { phone })
    if (registered === 'refused') return this.#setCode(phone, before)
    if (registered === 'lost') return this.#setCode(phone, 'unknown')
    if (registered.status !== 200) { this.#setCode(phone, 'unknown'); return this.#unexpected(`register ${phone}`, registered) }
    const verified = await this.#call('POST', '/api/users/verify_code/', { phone, auth_code: this.sms.lastCode(phone) })
    if (verified === 'refused') return this.#setCode(phone, 'sent')
    if (verified === 'lost') {
      this.#setCode(phone, 'unknown')
      ledger.lostSignIns++
      if (existing === undefined) ledger.unknownPhones.add(phone)
      return
    }
    if (verified.status !== 200) { this.#setCode(phone, 'unknown'); return this.#unexpected(`verify ${phone}`, verified) }
    this.#setCode(phone, 'spent')
    const body = verified.body as { access: string, refresh: string, created: boolean, user: Record<string, unknown> }
    const user = existing ?? { phone, id: body.user.id as number, inviteCode: body.user.invite_code as string, activation: 'none' }
    if (body.created !== (existing === undefined)) this.problems.push(`verify ${phone}: created ${body.created}, the ledger ${existing === undefined ? 'has no' : 'has a'} user`)
    this.#checkProfile(`verify ${phone}`, user, body.user, existing === undefined ? 0 : undefined)
    if (existing === undefined) {
      ledger.addUser(user)
      own.users.push(user)
    }
    const session: LedgerSession = { id: sessionIdOf(body.access), phone, userId: user.id, refresh: body.refresh, access: body.access, loggedOut: false, pending: false }
    ledger.sessions.push(session)
    own.sessions.push(session)
  }

  #rotated (session: LedgerSession, answer: Answer): void {
    session.refresh = answer.body.refresh as string
    session.access = answer.body.access as string
    this.ledger.rotations++
    if (sessionIdOf(session.access) !== session.id) this.problems.push(`refresh of ${session.id} gave a token of session ${sessionIdOf(session.access)}`)
  }

  async #refresh (session: LedgerSession): Promise<void> {
    session.pending = true
    const answer = await this.#call('POST', '/api/token/refresh/', { refresh: session.refresh })
    session.pending = false
    if (answer === 'refused') return
    if (answer === 'lost') { session.lost = 'refresh'; this.ledger.lostRotations++; return }
    if (answer.status !== 200) { session.lost = 'refresh'; return this.#unexpected(`refresh of ${session.id}`, answer) }
    this.#rotated(session, answer)
  }

  async #logout (session: LedgerSession): Promise<void> {
    session.pending = true
    const answer = await this.#call('POST', '/api/users/logout/', { refresh: session.refresh })
    session.pending = false
    if (answer === 'refused') return
    if (answer === 'lost') { session.lost = 'logout'; return }
    if (answer.status !== 204) { session.lost = 'logout'; return this.#unexpected(`logout of ${session.id}`, answer) }
    session.loggedOut = true
    this.stats.logouts++
  }

  async #readProfile (session: LedgerSession): Promise<void> {
    const user = this.ledger.users.get(session.phone)!
    const knownInvited = this.ledger.invitedKnown.get(user.phone) ?? 0
    const answer = await this.#call('GET', '/api/users/me/', undefined, session.access)
    if (answer === 'refused' || answer === 'lost') return
    if (answer.status !== 200) return this.#unexpected(`me of ${session.phone}`, answer)
    this.#checkProfile(`me of ${session.phone}`, user, answer.body, knownInvited)
  }

  /** Takes the code of a user created earlier: the graph only points back in time, so no cycle is refused. */
  async #activate (user: LedgerUser, session: LedgerSession): Promise<boolean> {
    const { ledger } = this
    const inviter = this.#pick(ledger.usersInOrder.filter(other => other.id < user.id))
    if (inviter === undefined) return false
    user.activation = 'pending'
    user.inviterPhone = inviter.phone
    ledger.bump(ledger.invitedMaybe, inviter.phone, 1)
    const answer = await this.#call('PATCH', '/api/profile/', { invite_code: inviter.inviteCode }, session.access)
    if (answer === 'refused') {
      user.activation = 'none'
      delete user.inviterPhone
      ledger.bump(ledger.invitedMaybe, inviter.phone, -1)
      return true
    }
    if (answer === 'lost') { user.activation = 'unknown'; return true }
    if (answer.status !== 200) { user.activation = 'unknown'; this.#unexpected(`activation by ${user.phone}`, answer); return true }
    user.activation = 'done'
    ledger.bump(ledger.invitedMaybe, inviter.phone, -1)
    ledger.bump(ledger.invitedKnown, inviter.phone, 1)
    this.stats.activations++
    this.#checkProfile(`activation by ${user.phone}`, user, answer.body)
    return true
  }
}
