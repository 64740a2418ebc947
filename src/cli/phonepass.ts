import { readFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config.js'
import { DomainError } from '../domain/errors.js'
import { systemClock } from '../services/clock.js'
import type { AdminCaller, AuditEntry } from '../services/audit.js'
import { auditPageMaxLimit, blockReasonMaxLength, createOperatorService, type InviteNode, type UserState } from '../services/operator-service.js'
import type { KeyInfo } from '../services/signing-keys.js'
import { createDatabase, type Db } from '../store/database.js'
import { migrateToLatest } from '../store/migrator.js'

/** Exit codes: 0 done, 1 nothing to act on (no such user), 2 wrong usage, 78 bad configuration. */
const exitCodes = { ok: 0, notFound: 1, usage: 2, failed: 70, config: 78 } as const

const usage = `Usage: phonepass <command> [--json]

Commands:
  migrate                   apply pending database migrations
  user show <phone>         profile, sessions, code and limit state
  user sign-out <phone>     revoke all of the user's sessions
  user block <phone> --reason "..."
                            stop an account: no sign-in, every session ended at once
  user unblock <phone>      lift a block; the person may sign in again
  limits clear <phone>      delete the phone's rate-limit counters
  invites tree <phone>      the users invited by this one, and theirs, as a tree
  keys list                 the keys that sign access tokens, and their states
  keys rotate               publish a new key now; it signs after JWT_KEY_PUBLISH_LEAD_SECONDS
  keys import <pem-file>    as rotate, with your own private key (P-256, RSA 2048+, Ed25519; PKCS#8 PEM)
  keys revoke <kid>         take a (leaked) key out at once; its tokens stop working
  webhooks list [pending|failed]
                            webhook events not delivered yet, or given up after the last retry
  webhooks resend [<webhook-id>]
                            send failed events again (all, or one), due now, same webhook-id
  audit list [<phone>] [--limit N] [--before <id>]
                            admin actions (API, pages, this CLI), newest first: who, what,
                            whom, when, from where; of one phone; N at a time (50, at most ${auditPageMaxLimit})

user sign-out, block, unblock and limits clear are written to the audit log as done by
"cli:<your OS user>" (PHONEPASS_OPERATOR=<name> says who instead).

Reads the same environment as the server (DATABASE_URL, PHONEPASS_SECRET, ...).
`

class UsageError extends Error {}

interface Output {
  json: boolean
  out: (text: string) => void
}

const time = (ms: number | null): string => ms === null ? '-' : new Date(ms).toISOString()

function printUser (state: UserState, { out }: Output): void {
  const { profile } = state
  out(`user ${profile.id}  ${profile.phone}  invite code ${profile.inviteCode}  since ${time(state.createdAt)}`)
  if (state.blocked !== null) out(`BLOCKED since ${time(state.blocked.at)}: ${state.blocked.reason ?? ''}`)
  out(`activated invite code: ${profile.activatedInviteCode ?? '-'}`)
  out(`invited: ${profile.invitedPhones.length === 0 ? '-' : profile.invitedPhones.join(', ')}`)
  out(`sessions (${state.sessions.filter(s => s.state === 'live').length} live of ${state.sessions.length}):`)
  for (const s of state.sessions) {
    out(`  ${s.id.slice(0, 8)}…  ${s.kind.padEnd(3)}  ${s.state.padEnd(7)}  last seen ${time(s.lastSeenAt)}  ${s.ip ?? '-'}  ${s.userAgent ?? ''}`)
  }
  out(state.loginCode === undefined
    ? 'login code: none'
    : `login code: ${state.loginCode.state}, sent ${time(state.loginCode.createdAt)}, ${state.loginCode.attempts} wrong tries, expires ${time(state.loginCode.expiresAt)}`)
  out(`limit counters (${state.limits.length}):`)
  for (const l of state.limits) out(`  ${l.key}  window ${time(l.window_start)}  count ${l.count}  until ${time(l.expires_at)}`)
}

function printTree (node: InviteNode, out: (text: string) => void, prefix = '', last = true, root = true): void {
  out(root ? node.phone : `${prefix}${last ? '└── ' : '├── '}${node.phone}  (${time(node.invitedAt)})`)
  const childPrefix = root ? '' : prefix + (last ? '    ' : '│   ')
  node.invited.forEach((child, i) => printTree(child, out, childPrefix, i === node.invited.length - 1, false))
}

function printKeys (keys: KeyInfo[], { out }: Output): void {
  if (keys.length === 0) out('no signing keys yet: the first start of the server makes one')
  for (const key of keys) {
    out(`${String(key.generation).padStart(3)}  ${key.alg.padEnd(5)}  ${key.state.padEnd(15)}  ${key.kid}`)
    out(`     made ${time(key.createdAt)}  signs from ${time(key.activatesAt)}  until ${time(key.signsUntil)}  retires ${time(key.retiresAt)}${key.readable ? '' : '  (private key unreadable with this PHONEPASS_SECRET)'}`)
  }
}

function printAudit (entries: AuditEntry[], { out }: Output): void {
  out(`${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}${entries.length > 0 ? `; older ones: --before ${entries.at(-1)?.id ?? ''}` : ''}`)
  for (const e of entries) {
    const target = e.target.userId === null ? (e.target.phone ?? '-') : `user ${e.target.userId} ${e.target.phone ?? ''}`.trim()
    out(`  #${e.id}  ${time(e.at)}  ${e.actor.kind}:${e.actor.name}  ${e.action.padEnd(19)}  ${target}  ${JSON.stringify(e.details)}  ${e.ip ?? '-'}  ${e.requestId ?? '-'}`)
  }
}

/** Whom the audit log names for this CLI: PHONEPASS_OPERATOR, else the OS user (a container may have none). */
export function cliActor (env: NodeJS.ProcessEnv): AdminCaller {
  let name = env.PHONEPASS_OPERATOR?.trim() ?? ''
  if (name === '') {
    try {
      name = userInfo().username
    } catch {
      name = 'cli'
    }
  }
  return { actor: { kind: 'cli', name: name.slice(0, 64) }, ip: null, requestId: null }
}

function wholeNumber (value: string | undefined, option: string, max: number): number | undefined {
  if (value === undefined) return undefined
  if (!/^[0-9]{1,15}$/.test(value) || Number(value) < 1 || Number(value) > max) throw new UsageError(`${option} takes a whole number from 1 to ${max}`)
  return Number(value)
}

function phoneArgument (rest: string[]): string {
  const [phone, ...extra] = rest
  if (phone === undefined || extra.length > 0) throw new UsageError('exactly one phone number is expected')
  return phone
}

interface Options {
  reason: string | undefined
  limit: string | undefined
  before: string | undefined
  caller: AdminCaller
}

async function run (command: string[], db: Db, config: Config, output: Output, { reason, limit, before, caller }: Options): Promise<void> {
  const operator = createOperatorService({ db, config, clock: systemClock })
  const emit = (value: unknown, human: () => void): void => {
    if (output.json) output.out(JSON.stringify(value, null, 2))
    else human()
  }
  const [noun, verb, ...rest] = command
  if (noun === 'migrate') {
    if (verb !== undefined) throw new UsageError('migrate takes no arguments')
    const applied = await migrateToLatest(db)
    return emit({ applied }, () => output.out(applied.length === 0 ? 'database is up to date' : applied.join('\n')))
  }
  const action = `${noun ?? ''} ${verb ?? ''}`.trim()
  if (reason !== undefined && action !== 'user block') throw new UsageError('--reason goes with user block only')
  if ((limit !== undefined || before !== undefined) && action !== 'audit list') throw new UsageError('--limit and --before go with audit list only')
  switch (action) {
    case 'user show': {
      const state = await operator.showUser(phoneArgument(rest))
      return emit(state, () => printUser(state, output))
    }
    case 'user sign-out': {
      const result = await operator.signOutUser(phoneArgument(rest), caller)
      return emit(result, () => output.out(`${result.phone}: ${result.revoked} session(s) revoked`))
    }
    case 'user block': {
      if (reason === undefined || reason.trim() === '') throw new UsageError('user block needs --reason "..." (kept with the block, shown by user show)')
      if (reason.trim().length > blockReasonMaxLength) throw new UsageError(`the reason is longer than ${blockReasonMaxLength} characters`)
      const result = await operator.blockUser(phoneArgument(rest), reason, caller)
      return emit(result, () => output.out(result.changed ? `${result.phone}: blocked; ${result.revoked} session(s) ended` : `${result.phone}: already blocked`))
    }
    case 'user unblock': {
      const result = await operator.unblockUser(phoneArgument(rest), caller)
      return emit(result, () => output.out(result.changed ? `${result.phone}: unblocked` : `${result.phone}: was not blocked`))
    }
    case 'limits clear': {
      const result = await operator.clearLimits(phoneArgument(rest), caller)
      return emit(result, () => output.out(`${result.phone}: ${result.deleted} limit counter(s) deleted`))
    }
    case 'invites tree': {
      const tree = await operator.inviteTree(phoneArgument(rest))
      return emit(tree, () => printTree(tree, output.out))
    }
    case 'keys list': {
      if (rest.length > 0) throw new UsageError('keys list takes no arguments')
      const keys = await operator.listKeys()
      return emit(keys, () => printKeys(keys, output))
    }
    case 'keys rotate': {
      if (rest.length > 0) throw new UsageError('keys rotate takes no arguments')
      const result = await operator.rotateKeys()
      return emit(result, () => {
        output.out(result.rotated ? 'new key published; it signs after the publish lead' : `not rotated: ${result.reason ?? ''}`)
        printKeys(result.keys, output)
      })
    }
    case 'keys import': {
      const [file, ...extra] = rest
      if (file === undefined || extra.length > 0) throw new UsageError('exactly one PEM file is expected')
      const result = await operator.importKey(readFileSync(file, 'utf8'))
      if (!result.rotated) throw new UsageError(`not imported: ${result.reason ?? ''}`)
      return emit(result, () => {
        output.out('key published; it signs after the publish lead')
        printKeys(result.keys, output)
      })
    }
    case 'keys revoke': {
      const [kid, ...extra] = rest
      if (kid === undefined || extra.length > 0) throw new UsageError('exactly one kid is expected')
      const result = await operator.revokeKey(kid)
      return emit(result, () => {
        output.out(`${kid} revoked`)
        printKeys(result.keys, output)
      })
    }
    case 'webhooks list': {
      const [status, ...extra] = rest
      if (extra.length > 0 || (status !== undefined && status !== 'pending' && status !== 'failed')) throw new UsageError('webhooks list takes pending, failed or nothing')
      const events = await operator.listWebhookEvents(status === undefined ? ['pending', 'failed'] : [status])
      return emit(events, () => {
        output.out(`${events.length} event(s)`)
        for (const e of events) {
          output.out(`  ${e.msg_id}  ${e.type.padEnd(18)}  ${e.status.padEnd(7)}  attempts ${e.attempts}  created ${time(e.created_at)}  ${e.status === 'pending' ? `next ${time(e.next_attempt_at)}` : `gave up ${time(e.finished_at)}`}  ${e.last_error ?? ''}`)
        }
      })
    }
    case 'webhooks resend': {
      const [webhookId, ...extra] = rest
      if (extra.length > 0) throw new UsageError('webhooks resend takes at most one webhook-id')
      const result = await operator.resendWebhookEvents(webhookId)
      return emit(result, () => output.out(`${result.resent} failed event(s) will be sent again`))
    }
    case 'audit list': {
      const [phone, ...extra] = rest
      if (extra.length > 0) throw new UsageError('audit list takes at most one phone number')
      const entries = await operator.listAudit({
        ...(phone === undefined ? {} : { user: phone }),
        limit: wholeNumber(limit, '--limit', auditPageMaxLimit),
        beforeId: wholeNumber(before, '--before', Number.MAX_SAFE_INTEGER)
      })
      return emit(entries, () => printAudit(entries, output))
    }
    default:
      throw new UsageError(command.length === 0 ? 'a command is needed' : `unknown command: ${command.join(' ')}`)
  }
}

function describe (error: unknown, command: string[]): { message: string, code: number } {
  if (error instanceof UsageError) return { message: `${error.message}\n\n${usage}`, code: exitCodes.usage }
  if (error instanceof ConfigError) return { message: error.message, code: exitCodes.config }
  const phone = command.at(-1) ?? ''
  if (error instanceof DomainError && error.code === 'phone_invalid') return { message: `not a phone number: ${phone}`, code: exitCodes.usage }
  if (error instanceof DomainError && error.code === 'not_found' && error.details.field === 'kid') return { message: `no live key ${phone}`, code: exitCodes.notFound }
  if (error instanceof DomainError && error.code === 'not_found' && command[0] === 'webhooks') return { message: `no failed event with webhook-id ${phone}`, code: exitCodes.notFound }
  if (error instanceof DomainError && error.code === 'user_not_found') return { message: `no user with phone ${phone}`, code: exitCodes.notFound }
  return { message: `failed: ${error instanceof Error ? error.message : String(error)}`, code: exitCodes.failed }
}

export interface Io {
  env: NodeJS.ProcessEnv
  stdout: (text: string) => void
  stderr: (text: string) => void
}

const processIo: Io = {
  env: process.env,
  stdout: text => { process.stdout.write(text) },
  stderr: text => { process.stderr.write(text) }
}

const keysRevokeOptions = /^(--json|--help|-h)$/

/**
 * A kid is base64url and may begin with '-' (`keys list` shows `-j9JF…`): after `keys revoke`
 * it is the kid, not an option. The options the command knows keep their meaning.
 */
function kidAsPositional (argv: string[]): string[] {
  if (argv[0] !== 'keys' || argv[1] !== 'revoke') return argv
  const rest = argv.slice(2).filter(arg => arg !== '--')
  return ['keys', 'revoke', ...rest.filter(arg => keysRevokeOptions.test(arg)), '--', ...rest.filter(arg => !keysRevokeOptions.test(arg))]
}

/** Runs one command; returns the exit code. bin/phonepass.js calls it. */
export async function main (argv: string[], io: Io = processIo): Promise<number> {
  const out = (text: string): void => { io.stdout(text + '\n') }
  let parsed
  try {
    parsed = parseArgs({ args: kidAsPositional(argv), allowPositionals: true, options: { json: { type: 'boolean', default: false }, reason: { type: 'string' }, limit: { type: 'string' }, before: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } })
  } catch (error) {
    io.stderr(`phonepass: ${(error as Error).message}\n\n${usage}`)
    return exitCodes.usage
  }
  if (parsed.values.help) {
    out(usage.trimEnd())
    return exitCodes.ok
  }
  const command = parsed.positionals
  let db: Db | undefined
  try {
    const config = loadConfig(io.env)
    db = createDatabase(config.databaseUrl)
    const { reason, limit, before } = parsed.values
    await run(command, db, config, { json: parsed.values.json, out }, { reason, limit, before, caller: cliActor(io.env) })
    return exitCodes.ok
  } catch (error) {
    const { message, code } = describe(error, command)
    io.stderr(`phonepass: ${message}\n`)
    return code
  } finally {
    await db?.destroy()
  }
}
