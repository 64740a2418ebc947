import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { DomainError, type ErrorDetails, errorStatus, type ErrorCode } from '../domain/errors.js'
import { formatWait, pickLocale, translate, type Locale, type MessageKey } from '../i18n/catalogue.js'
import { isDatabaseUnavailable } from '../store/database.js'
import { SmsDeliveryError } from '../sms/sms-sender.js'

/** What either face needs to answer a failed request, in the person's language. */
export interface DescribedError {
  status: number
  code: ErrorCode
  detail: string
  /** Messages per field, for validation errors and errors that belong to one field. */
  fieldErrors: Record<string, string[]>
  retryAfter?: number
  attemptsLeft?: number
  /** The fraud guard's challenge to solve before the send is tried again. */
  challenge?: NonNullable<ErrorDetails['challenge']>
  /** True when the cause is ours (a 5xx): worth a log line with the stack. */
  unexpected: boolean
}

interface AjvError {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
}

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'parse_error',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'parse_error',
  FST_ERR_CTP_INVALID_JSON_BODY: 'parse_error',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_TYPE: 'parse_error',
  // @fastify/multipart's limits (see multipart-forms.ts): too many parts or fields, or a file.
  FST_PARTS_LIMIT: 'payload_too_large',
  FST_FIELDS_LIMIT: 'payload_too_large',
  FST_FILES_LIMIT: 'payload_too_large',
  FST_REQ_FILE_TOO_LARGE: 'payload_too_large',
  // @fastify/static's refusal of a path it will not serve (dot segments, a name too long).
  FST_STATIC_FORBIDDEN_PATH: 'not_found'
}

/** Where DRF put errors that belong to no one field, e.g. a body that is not an object. */
const nonFieldErrors = 'non_field_errors'

function messageKeyOf (error: AjvError): MessageKey {
  const { keyword, params } = error
  if (keyword === 'required') return 'field_required'
  if (keyword === 'type') {
    if (params.type === 'integer' || params.type === 'number') return 'field_type_integer'
    return params.type === 'object' ? 'field_type_object' : 'field_type_string'
  }
  // DRF's words for an empty string; longer minimums give the number.
  if (keyword === 'minLength') return params.limit === 1 ? 'field_blank' : 'field_too_short'
  const keyByKeyword: Record<string, MessageKey> = {
    maxLength: 'field_too_long',
    minimum: 'field_too_small',
    maximum: 'field_too_large',
    pattern: 'field_format'
  }
  return keyByKeyword[keyword] ?? 'field_unknown'
}

function fieldMessage (locale: Locale, error: AjvError): { field: string, message: string } {
  const field = typeof error.params.missingProperty === 'string'
    ? error.params.missingProperty
    : error.instancePath.replace(/^\//, '').replace(/\//g, '.') || nonFieldErrors
  return { field, message: translate(locale, messageKeyOf(error), { limit: String(error.params.limit ?? '') }) }
}

/**
 * Messages per field. A body schema with alternatives (logout's object or nothing) also
 * reports that the body matched neither; beside a message about a field that says nothing more.
 */
function fieldMessages (locale: Locale, validation: AjvError[]): Record<string, string[]> {
  // What the alternatives themselves report ("matched none", "is not null") says nothing a
  // person can act on beside the reasons each one gives.
  const reasons = validation.filter(error => error.keyword !== 'anyOf' && !(error.keyword === 'type' && error.params.type === 'null'))
  const messages = (reasons.length > 0 ? reasons : validation).map(error => fieldMessage(locale, error))
  const aboutFields = messages.some(({ field }) => field !== nonFieldErrors)
  const fieldErrors: Record<string, string[]> = {}
  for (const { field, message } of messages) {
    if (aboutFields && field === nonFieldErrors) continue
    ;(fieldErrors[field] ??= []).push(message)
  }
  return fieldErrors
}

function codeOf (error: FastifyError | Error): ErrorCode | undefined {
  if (error instanceof DomainError) return error.code
  if (error instanceof SmsDeliveryError) return 'sms_unavailable'
  if (isDatabaseUnavailable(error)) return 'service_unavailable'
  if (error instanceof SyntaxError) return 'parse_error'
  const fastifyError = error as FastifyError
  if (fastifyError.code !== undefined && fastifyCodes[fastifyError.code] !== undefined) return fastifyCodes[fastifyError.code]
  const status = fastifyError.statusCode
  if (status === 404) return 'not_found'
  if (status !== undefined && status >= 400 && status < 500) return 'parse_error'
  return undefined
}

export function describeError (error: FastifyError | Error, locale: Locale, requestId: string): DescribedError {
  const validation = (error as FastifyError).validation as AjvError[] | undefined
  if (validation !== undefined) {
    return { status: 400, code: 'validation_error', detail: translate(locale, 'validation_error'), fieldErrors: fieldMessages(locale, validation), unexpected: false }
  }
  const code = codeOf(error) ?? 'internal_error'
  const details = error instanceof DomainError ? error.details : {}
  const retryAfter = details.retryAfter ?? (code === 'service_unavailable' ? 2 : code === 'sms_unavailable' ? 30 : undefined)
  const detail = translate(locale, code, {
    requestId,
    wait: retryAfter === undefined ? '' : formatWait(locale, retryAfter)
  })
  const described: DescribedError = {
    status: errorStatus[code],
    code,
    detail,
    fieldErrors: details.field === undefined ? {} : { [details.field]: [detail] },
    unexpected: code === 'internal_error'
  }
  if (retryAfter !== undefined) described.retryAfter = retryAfter
  if (details.attemptsLeft !== undefined) described.attemptsLeft = details.attemptsLeft
  if (details.challenge !== undefined) described.challenge = details.challenge
  return described
}

/**
 * An error as the API's JSON: {detail, code, errors?, attempts_left?} and Retry-After. The
 * API's error handler, and the app's for errors no face handled (static files, probes, a
 * page's error handler that failed itself), so no answer shows fastify's raw message.
 */
export async function answerJsonError (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const described = describeError(error, pickLocale(request.headers['accept-language']), request.id)
  if (described.unexpected) request.log.error({ err: error }, 'request failed')
  if (described.retryAfter !== undefined) reply.header('retry-after', String(described.retryAfter))
  const body: Record<string, unknown> = { detail: described.detail, code: described.code }
  if (Object.keys(described.fieldErrors).length > 0) body.errors = described.fieldErrors
  if (described.attemptsLeft !== undefined) body.attempts_left = described.attemptsLeft
  if (described.challenge !== undefined) body.challenge = described.challenge
  return await reply.code(described.status).type('application/json').send(body)
}
