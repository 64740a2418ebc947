import assert from 'node:assert/strict'
import t from 'tap'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { bearer, buildTestApp, post, type TestContext } from '../helpers/app.js'
import { findViolations } from '../helpers/invariants.js'
import { WebClient } from '../web/web-client.js'
import { fuzzParameters, sessionIdOf } from './arbitraries.js'

// Random sequences of real operations, through the API and the pages, checked against a
// model of what each answer must be: sign-ins (the same phone in different notations),
// activations of others' codes (one's own, cycles, twice, two at once), token refreshes,
// reuse of spent refresh tokens, sign-outs. After each sequence the database invariants
// hold and agree with what the answers said.

interface Person { phone: string, userId: number, inviteCode: string }

interface Session {
  kind: 'api' | 'web'
  userId: number
  ended: boolean
  /** API sessions: the id from the access token, the tokens, the refresh tokens spent and when. */
  sessionId?: string
  access?: string
  refresh?: string
  spent: Array<{ token: string, at: number }>
  /** Browser sessions: the cookie jar. */
  client?: WebClient
}

type Inviters = Map<number, number | null>

interface Model {
  people: Map<string, Person>
  inviters: Inviters
  invitedAt: Map<number, number>
  sessions: Session[]
}

interface Real { context: TestContext }

/** REFRESH_REUSE_GRACE_SECONDS's default. */
const refreshReuseGraceMs = 10_000

type Outcome = { status: number, code?: string }

const testNumber = '+15550100001'
// Each phone in notations a person might type; the first is E.164.
const phones: string[][] = [
  ['+79123456701', '89123456701', '8 (912) 345-67-01', '+7 912 345 67 01', '9123456701', ' +7-912-345-67-01 '],
  ['+79123456702', '8 912 345-67-02', '+7(912)3456702', '(912) 345 67 02'],
  ['+79123456703', '+7 912 345-67-03', '8-912-345-67-03'],
  ['+447400123456', '+44 7400 123456', '+44 (0) 7400 123456'],
  [testNumber, '+1 555 010 0001', '+1 (555) 010-0001']
]

function personOf (model: Model, userId: number): Person {
  const person = [...model.people.values()].find(p => p.userId === userId)
  if (person === undefined) throw new Error(`no person ${userId} in the model`)
  return person
}

/** What activating `targetId`'s code answers for `userId`, in the service's order of checks. */
function predictActivation (inviters: Inviters, userId: number, targetId: number): Outcome {
  if ((inviters.get(userId) ?? null) !== null) return { status: 409, code: 'invite_already_activated' }
  if (targetId === userId) return { status: 400, code: 'invite_own_code' }
  for (let at: number | null = targetId; at !== null; at = inviters.get(at) ?? null) {
    if (at === userId) return { status: 409, code: 'invite_cycle' }
  }
  return { status: 200 }
}

function expectedProfile (model: Model, userId: number) {
  const person = personOf(model, userId)
  const inviter = model.inviters.get(userId) ?? null
  const invited = [...model.inviters].filter(([, by]) => by === userId).map(([id]) => id)
    .sort((a, b) => (model.invitedAt.get(a) ?? 0) - (model.invitedAt.get(b) ?? 0) || a - b)
  return {
    id: userId,
    phone: person.phone,
    invite_code: person.inviteCode,
    activated_invite_code: inviter === null ? null : personOf(model, inviter).inviteCode,
    users_invited: invited.map(id => personOf(model, id).phone),
    users_invited_count: invited.length
  }
}

function outcomeOf (res: LightMyRequestResponse): Outcome {
  const json = res.statusCode >= 400 ? res.json<{ code: string }>() : undefined
  return json === undefined ? { status: res.statusCode } : { status: res.statusCode, code: json.code }
}

function pick<T> (items: T[], index: number): T {
  const item = items[index % items.length]
  if (item === undefined) throw new Error('nothing to pick from')
  return item
}

function codeIn (style: number, code: string): string {
  return [code, code.toLowerCase(), `${code.slice(0, 3)}-${code.slice(3)}`, ` ${code.slice(0, 3)} ${code.slice(3)} `][style % 4] ?? code
}

async function codeFor (context: TestContext, phone: string): Promise<string> {
  return phone === testNumber ? '1234' : context.sms.lastCode(phone)
}

/** Records a sign-in's answer: the same phone is always the same user. */
function admit (model: Model, phone: string, user: { id: number, phone: string, invite_code: string }, created: boolean | undefined): void {
  assert.equal(user.phone, phone, 'the phone comes back in E.164')
  const known = model.people.get(phone)
  if (known !== undefined) {
    assert.equal(user.id, known.userId, `${phone} is still user ${known.userId}`)
    assert.equal(user.invite_code, known.inviteCode)
    if (created !== undefined) assert.equal(created, false)
    return
  }
  if (created !== undefined) assert.equal(created, true)
  assert.ok(![...model.people.values()].some(p => p.userId === user.id), 'a new phone gets a new user')
  model.people.set(phone, { phone, userId: user.id, inviteCode: user.invite_code })
  model.inviters.set(user.id, null)
}

class ApiSignIn implements fc.AsyncCommand<Model, Real> {
  constructor (readonly phone: number, readonly notation: number) {}
  check = () => true
  async run (model: Model, { context }: Real): Promise<void> {
    const notations = pick(phones, this.phone)
    const e164 = notations[0] ?? ''
    const typed = pick(notations, this.notation)
    const registered = await post(context.app, '/api/users/register/', { phone: typed })
    assert.equal(registered.statusCode, 200, registered.body)
    assert.equal(registered.json().phone, e164)
    const res = await post(context.app, '/api/users/verify_code/', { phone: typed, auth_code: await codeFor(context, e164) })
    assert.equal(res.statusCode, 200, res.body)
    const body = res.json<{ access: string, refresh: string, created: boolean, user: { id: number, phone: string, invite_code: string } }>()
    admit(model, e164, body.user, body.created)
    assert.deepEqual(res.json().user, expectedProfile(model, body.user.id))
    model.sessions.push({ kind: 'api', userId: body.user.id, ended: false, sessionId: sessionIdOf(body.access), access: body.access, refresh: body.refresh, spent: [] })
  }

  toString = () => `apiSignIn(${this.phone}, ${this.notation})`
}

class WebSignIn implements fc.AsyncCommand<Model, Real> {
  constructor (readonly phone: number, readonly notation: number) {}
  check = () => true
  async run (model: Model, { context }: Real): Promise<void> {
    const notations = pick(phones, this.phone)
    const e164 = notations[0] ?? ''
    const client = new WebClient(context.app)
    const sent = await client.submit('/login', '/login', { phone: pick(notations, this.notation) })
    assert.equal(sent.headers.location, '/login/code', sent.body)
    const signedIn = await client.submit('/login/code', '/login/code', { auth_code: await codeFor(context, e164) })
    assert.equal(signedIn.headers.location, '/profile', signedIn.body)
    const page = (await client.get('/profile')).body
    const inviteCode = /id="own-code" class="code">([A-Z0-9]{6})</.exec(page)?.[1] ?? ''
    // The page shows no user id: a known phone is known by its invite code.
    let person = model.people.get(e164)
    if (person !== undefined) {
      assert.equal(inviteCode, person.inviteCode, `${e164} is still the same person`)
    } else {
      admit(model, e164, { id: await userIdOf(context, e164), phone: e164, invite_code: inviteCode }, undefined)
      person = model.people.get(e164) as Person
    }
    model.sessions.push({ kind: 'web', userId: person.userId, ended: false, spent: [], client })
  }

  toString = () => `webSignIn(${this.phone}, ${this.notation})`
}

/** A new person met first on the pages: their id, from a sign-in through the API. */
async function userIdOf (context: TestContext, phone: string): Promise<number> {
  await post(context.app, '/api/users/register/', { phone })
  const res = await post(context.app, '/api/users/verify_code/', { phone, auth_code: await codeFor(context, phone) })
  assert.equal(res.statusCode, 200, res.body)
  const access = res.json<{ access: string }>().access
  // That extra session is not the model's: it ends here, as a person would end it.
  assert.equal((await context.app.inject({ method: 'POST', url: '/api/users/logout/', headers: bearer(access) })).statusCode, 204)
  return res.json<{ user: { id: number } }>().user.id
}

async function activate (model: Model, context: TestContext, session: Session, code: string, method: 'PATCH' | 'PUT'): Promise<LightMyRequestResponse> {
  if (session.kind === 'api') {
    return await context.app.inject({ method, url: '/api/profile/', payload: { invite_code: code }, headers: bearer(session.access ?? '') })
  }
  const client = session.client as WebClient
  const page = await client.get('/profile')
  if (page.statusCode !== 200) return page
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1]
  // Once a code is activated the form is gone; the post is what an old open tab would send.
  return await client.post('/profile/invite', { _csrf: token ?? '', invite_code: code })
}

/** A page's answer as the API's outcome: 303 to /profile is success, an error page's status its code. */
function webOutcome (res: LightMyRequestResponse): Outcome {
  if (res.statusCode === 303) return res.headers.location === '/profile' ? { status: 200 } : { status: 401 }
  return { status: res.statusCode }
}

class Activate implements fc.AsyncCommand<Model, Real> {
  constructor (readonly session: number, readonly target: number, readonly style: number, readonly method: 'PATCH' | 'PUT') {}
  check = (model: Readonly<Model>) => model.sessions.length > 0
  async run (model: Model, { context }: Real): Promise<void> {
    const session = pick(model.sessions, this.session)
    const target = pick([...model.people.values()], this.target)
    const expected = session.ended ? { status: 401 } : predictActivation(model.inviters, session.userId, target.userId)
    const res = await activate(model, context, session, codeIn(this.style, target.inviteCode), this.method)
    if (session.kind === 'api') assert.deepEqual(outcomeOf(res), session.ended ? { status: 401, code: 'token_not_valid' } : expected, res.body)
    else {
      assert.deepEqual(webOutcome(res), { status: expected.status }, res.body.slice(0, 500))
      // A refusal shows why: beside the field, or above the page once the form is gone.
      if (res.statusCode >= 400) assert.match(res.body, /<p class="error" id="invite_code-error">[^<]+<\/p>|role="alert"><h2>[^<]*<\/h2><p>[^<]+<\/p>/)
    }
    if (expected.status === 200) {
      model.inviters.set(session.userId, target.userId)
      model.invitedAt.set(session.userId, context.clock.now())
      if (session.kind === 'api') assert.deepEqual(res.json(), expectedProfile(model, session.userId))
    }
  }

  toString = () => `activate(session ${this.session}, person ${this.target}, style ${this.style}, ${this.method})`
}

class ActivateUnknown implements fc.AsyncCommand<Model, Real> {
  constructor (readonly session: number, readonly code: string) {}
  check = (model: Readonly<Model>) => model.sessions.some(s => s.kind === 'api')
  async run (model: Model, { context }: Real): Promise<void> {
    const session = pick(model.sessions.filter(s => s.kind === 'api'), this.session)
    const res = await activate(model, context, session, this.code, 'PATCH')
    const taken = [...model.people.values()].some(p => p.inviteCode === this.code)
    if (taken) return // The generated code happens to be someone's: Activate covers that.
    const expected = session.ended
      ? { status: 401, code: 'token_not_valid' }
      : (model.inviters.get(session.userId) ?? null) !== null ? { status: 409, code: 'invite_already_activated' } : { status: 404, code: 'invite_not_found' }
    assert.deepEqual(outcomeOf(res), expected, res.body)
  }

  toString = () => `activateUnknown(session ${this.session}, ${this.code})`
}

class ActivateTogether implements fc.AsyncCommand<Model, Real> {
  constructor (readonly first: [number, number], readonly second: [number, number]) {}
  check = (model: Readonly<Model>) => model.sessions.some(s => s.kind === 'api')
  async run (model: Model, { context }: Real): Promise<void> {
    const apiSessions = model.sessions.filter(s => s.kind === 'api')
    const people = [...model.people.values()]
    const moves = [this.first, this.second].map(([session, target]) => ({ session: pick(apiSessions, session), target: pick(people, target) }))
    const answers = await Promise.all(moves.map(async move => await activate(model, context, move.session, move.target.inviteCode, 'PATCH')))
    const outcomes = answers.map(outcomeOf)
    // Linearisable: the answers are those of one order or the other, and so is the state.
    const orders = [[0, 1], [1, 0]].map(order => {
      const inviters = new Map(model.inviters)
      const predicted: Outcome[] = []
      for (const i of order) {
        const move = moves[i]!
        const outcome = move.session.ended ? { status: 401, code: 'token_not_valid' } : predictActivation(inviters, move.session.userId, move.target.userId)
        if (outcome.status === 200) inviters.set(move.session.userId, move.target.userId)
        predicted[i] = outcome
      }
      return { predicted, inviters }
    })
    const matching = orders.find(order => JSON.stringify(order.predicted) === JSON.stringify(outcomes))
    assert.ok(matching !== undefined, `answers ${JSON.stringify(outcomes)} fit neither order: ${JSON.stringify(orders.map(o => o.predicted))}`)
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.status === 200) model.invitedAt.set(moves[i]!.session.userId, context.clock.now())
    }
    model.inviters = matching.inviters
  }

  toString = () => `activateTogether(${this.first.join('→')}, ${this.second.join('→')})`
}

class Refresh implements fc.AsyncCommand<Model, Real> {
  constructor (readonly session: number) {}
  check = (model: Readonly<Model>) => model.sessions.some(s => s.kind === 'api' && s.refresh !== undefined)
  async run (model: Model, { context }: Real): Promise<void> {
    const session = pick(model.sessions.filter(s => s.kind === 'api' && s.refresh !== undefined), this.session)
    const res = await post(context.app, '/api/token/refresh/', { refresh: session.refresh })
    session.spent.push({ token: session.refresh ?? '', at: context.clock.now() })
    if (session.ended) {
      assert.deepEqual(outcomeOf(res), { status: 401, code: 'token_not_valid' })
      session.refresh = undefined
      return
    }
    assert.equal(res.statusCode, 200, res.body)
    const pair = res.json<{ access: string, refresh: string }>()
    assert.equal(sessionIdOf(pair.access), session.sessionId, 'the same session')
    session.access = pair.access
    session.refresh = pair.refresh
  }

  toString = () => `refresh(session ${this.session})`
}

class ReuseRefresh implements fc.AsyncCommand<Model, Real> {
  constructor (readonly session: number, readonly token: number) {}
  check = (model: Readonly<Model>) => model.sessions.some(s => s.spent.length > 0)
  async run (model: Model, { context }: Real): Promise<void> {
    const session = pick(model.sessions.filter(s => s.spent.length > 0), this.session)
    const spent = pick(session.spent, this.token)
    const res = await post(context.app, '/api/token/refresh/', { refresh: spent.token })
    assert.deepEqual(outcomeOf(res), { status: 401, code: 'token_not_valid' })
    // Within the grace (an app's parallel refreshes) the session is kept; later, a spent token
    // presented again ends its session, for both holders. Steps are a second apart, so
    // sequences meet both.
    if (context.clock.now() - spent.at >= refreshReuseGraceMs) session.ended = true
    const me = await context.app.inject({ url: '/api/users/me/', headers: bearer(session.access ?? '') })
    assert.equal(me.statusCode, session.ended ? 401 : 200, session.ended ? 'the access token dies with its session' : 'the session is kept within the grace')
  }

  toString = () => `reuseRefresh(session ${this.session}, token ${this.token})`
}

class SignOut implements fc.AsyncCommand<Model, Real> {
  constructor (readonly session: number, readonly how: 'bearer' | 'refresh' | 'spent') {}
  check = (model: Readonly<Model>) => model.sessions.length > 0
  async run (model: Model, { context }: Real): Promise<void> {
    const session = pick(model.sessions, this.session)
    if (session.kind === 'web') {
      const client = session.client as WebClient
      // Signed in, /login leads to the profile: the Sign out button is on the profile page
      // (a session already ended has been sent to sign in, whose page has a token too).
      const profile = await client.get('/profile')
      const token = /name="_csrf" value="([^"]+)"/.exec(profile.body)?.[1] ?? await client.token('/login')
      const res = await client.post('/logout', { _csrf: token })
      assert.equal(res.headers.location, '/login')
      session.ended = true
      return
    }
    const token = this.how === 'spent' && session.spent.length > 0 ? session.spent.at(-1)?.token : this.how === 'bearer' ? undefined : session.refresh ?? session.spent.at(-1)?.token
    const res = token === undefined
      ? await context.app.inject({ method: 'POST', url: '/api/users/logout/', headers: bearer(session.access ?? '') })
      : await post(context.app, '/api/users/logout/', { refresh: token })
    // By refresh token, spent or not, a sign-out always finds its session; by bearer only a live one.
    assert.deepEqual(outcomeOf(res), token === undefined && session.ended ? { status: 401, code: 'token_not_valid' } : { status: 204 }, res.body)
    session.ended = true
  }

  toString = () => `signOut(session ${this.session}, ${this.how})`
}

class ReadProfile implements fc.AsyncCommand<Model, Real> {
  constructor (readonly session: number, readonly path: number) {}
  check = (model: Readonly<Model>) => model.sessions.length > 0
  async run (model: Model, { context }: Real): Promise<void> {
    const session = pick(model.sessions, this.session)
    if (session.kind === 'web') {
      const res = await (session.client as WebClient).get('/profile')
      if (session.ended) {
        assert.equal(res.headers.location, '/login?next=%2Fprofile')
        return
      }
      const expected = expectedProfile(model, session.userId)
      assert.equal(res.statusCode, 200)
      assert.match(res.body, new RegExp(`id="own-code" class="code">${expected.invite_code}<`))
      assert.equal(res.body.includes('action="/profile/invite"'), expected.activated_invite_code === null, 'the invite form only while no code is activated')
      if (expected.activated_invite_code !== null) assert.ok(res.body.includes(`<dd><code class="code">${expected.activated_invite_code}</code></dd>`))
      assert.equal((res.body.match(/<li>\+/g) ?? []).length, expected.users_invited_count, 'the invited list')
      return
    }
    const url = pick(['/api/users/me/', '/api/profile/', '/api/users/me/invited/?limit=2&offset=1'], this.path)
    const res = await context.app.inject({ url, headers: bearer(session.access ?? '') })
    if (session.ended) {
      assert.deepEqual(outcomeOf(res), { status: 401, code: 'token_not_valid' })
      return
    }
    assert.equal(res.statusCode, 200, res.body)
    const expected = expectedProfile(model, session.userId)
    if (url.includes('invited')) {
      assert.deepEqual(res.json<{ count: number, results: string[] }>().results, expected.users_invited.slice(1, 3))
      assert.equal(res.json<{ count: number }>().count, expected.users_invited_count)
    } else {
      assert.deepEqual(res.json(), expected)
    }
  }

  toString = () => `readProfile(session ${this.session}, path ${this.path})`
}

const index = fc.nat({ max: 50 })
const apiSignIn = fc.tuple(index, index).map(([phone, notation]) => new ApiSignIn(phone, notation))
const activation = fc.tuple(index, index, fc.nat(3), fc.constantFrom<'PATCH' | 'PUT'>('PATCH', 'PUT')).map(([session, target, style, method]) => new Activate(session, target, style, method))
// Listed more than once: drawn more often.
const commands = fc.commands([
  apiSignIn, apiSignIn, apiSignIn,
  fc.tuple(index, index).map(([phone, notation]) => new WebSignIn(phone, notation)),
  activation, activation, activation,
  fc.tuple(index, fc.oneof(fc.stringMatching(/^[2-9A-HJKMNP-Z]{6}$/), fc.constantFrom('ZZZZZZ', 'zzz-zzz'))).map(([session, code]) => new ActivateUnknown(session, code)),
  fc.tuple(fc.tuple(index, index), fc.tuple(index, index)).map(([first, second]) => new ActivateTogether(first, second)),
  index.map(session => new Refresh(session)),
  fc.tuple(index, index).map(([session, token]) => new ReuseRefresh(session, token)),
  fc.tuple(index, fc.constantFrom<'bearer' | 'refresh' | 'spent'>('bearer', 'refresh', 'spent')).map(([session, how]) => new SignOut(session, how)),
  fc.tuple(index, fc.nat(2)).map(([session, path]) => new ReadProfile(session, path))
], { maxCommands: 30, size: 'max' })

t.test('random sequences of real operations agree with the model and keep the invariants', async t => {
  const env = {
    OTP_RESEND_SECONDS: '0', LIMIT_CODES_PER_IP_HOUR: '100000', LIMIT_CODES_PER_PHONE_HOUR: '1000', LIMIT_CODES_PER_PHONE_DAY: '10000',
    LIMIT_WRONG_INVITES_PER_USER_HOUR: '10000'
  }
  let sequences = 0
  let steps = 0
  const parameters = fuzzParameters<[Iterable<fc.AsyncCommand<Model, Real>>]>({ sqlite: 40, postgres: 8 })
  await fc.assert(fc.asyncProperty(commands, async sequence => {
    sequences++
    // A fresh app for each sequence, closed at its end, so the model starts from nothing.
    const teardowns: Array<() => unknown> = []
    const context = await buildTestApp({ teardown: fn => { teardowns.push(fn) } }, env)
    try {
      const model: Model = { people: new Map(), inviters: new Map(), invitedAt: new Map(), sessions: [] }
      const timed = [...sequence].map(command => ({
        check: (m: Readonly<Model>) => command.check(m),
        run: async (m: Model, r: Real) => {
          steps++
          // A second between steps, so the invited lists have an order to check.
          context.clock.advance(1000)
          await command.run(m, r)
        },
        toString: () => command.toString()
      }))
      await fc.asyncModelRun(() => ({ model, real: { context } }), timed)
      const violations = await findViolations(context.app.db, context.config, {
        inviters: model.inviters,
        users: new Map([...model.people].map(([phone, person]) => [phone, person.userId])),
        endedSessions: model.sessions.filter(s => s.ended && s.sessionId !== undefined).map(s => s.sessionId as string)
      }, context.clock.now())
      assert.deepEqual(violations, [], 'the database invariants hold')
    } finally {
      for (const teardown of teardowns.reverse()) await teardown()
    }
  }), parameters)
  t.equal(sequences, parameters.numRuns)
  t.ok(steps > sequences * 5, `${steps} operations in ${sequences} sequences`)
})
