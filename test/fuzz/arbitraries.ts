import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { testDatabaseKind } from '../helpers/database.js'

// Generators shared by the property tests of test/fuzz: odd values of every JSON type, digits
// of other scripts, control characters, huge strings, prototype-pollution keys, and the
// header and query-string junk a client (or a proxy) can send.

/**
 * fast-check's parameters for a property: so many runs on SQLite, fewer in the PostgreSQL
 * pass (each request costs more there), times PHONEPASS_FUZZ_SCALE when set (say 20, for a
 * long hunt on a free machine). The seed is random; a failure prints it with its path, and
 * PHONEPASS_FUZZ_SEED and PHONEPASS_FUZZ_PATH replay it. A failure ends the run unshrunk:
 * shrinking a property over a live app takes longer than CI allows.
 */
export function fuzzParameters<T> (runs: { sqlite: number, postgres: number }): fc.Parameters<T> {
  const scale = Number(process.env.PHONEPASS_FUZZ_SCALE ?? '1')
  const base = testDatabaseKind === 'postgres' ? runs.postgres : runs.sqlite
  const numRuns = Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)))
  const replay = process.env.PHONEPASS_FUZZ_SEED === undefined ? {} : { seed: Number(process.env.PHONEPASS_FUZZ_SEED), path: process.env.PHONEPASS_FUZZ_PATH }
  return { numRuns, endOnFailure: true, ...replay }
}

/** Marks a value a page must never reflect unescaped. */
export const markup = '"><svg/onload=fuzz()>'

const unicodeDigits = fc.constantFrom(
  '٠١٢٣٤٥٦٧٨٩', '۰۱۲۳۴۵۶۷۸۹', '०१२३४५६७८९', '０１２３４５６７８９', '𝟏𝟐𝟑𝟒', '১২৩৪', '߀߁߂߃', '①②③④', '+٧٩١٢٣٤٥٦٧٨٩', '+7９１２３４５６７８９'
)
const controlChar = fc.constantFrom('\u0000', '\u0007', '\b', '\t', '\n', '\v', '\f', '\r', '\u001b', '\u007f', '\u0085', '\u00a0', '\u2028', '\u2029', '\u200b', '\u200e', '\u202e', '\ufeff', '\ud800', '\udfff')
const phoneChar = fc.constantFrom('+', '7', '8', '9', '1', '2', '3', '0', ' ', '-', '(', ')', '.', '/', '#', '*', 'x', '٣', '３')

/** Strings of every awkward kind, a few huge (over the body limit once encoded). */
export const oddString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: controlChar, maxLength: 10 }),
  fc.string({ unit: phoneChar, maxLength: 24 }),
  unicodeDigits,
  fc.constantFrom('', ' ', '+', '1234', ' 1234 ', '１２３４', '12345', '0000', 'K7M2XQ', 'k7m2-xq', 'ABCDEFG', '<script>', markup, "' or 1=1 --", '%00', '${7*7}', '{{7*7}}', 'null', 'undefined', 'NaN', '__proto__', 'toString', 'constructor'),
  fc.constantFrom('+79123456789', '8 (912) 345-67-89', '+7 912 345 67 89', '9123456789', '+15550100001', '+1 555 010 0001', '+44 20 7946 0000', '+1900555000', '+999'),
  fc.tuple(fc.string({ minLength: 1, maxLength: 3 }), fc.integer({ min: 100, max: 7000 })).map(([s, n]) => s.repeat(n))
)

export const protoKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__']

/** A value of any JSON type, objects keyed by the routes' fields and prototype keys. */
export function oddValue (fields: readonly string[]): fc.Arbitrary<unknown> {
  const key = fc.oneof(fc.constantFrom(...fields, ...protoKeys), fc.string({ maxLength: 8 }))
  const { value } = fc.letrec<{ value: unknown }>(tie => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      oddString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(key, tie('value'), { maxKeys: 4 }),
      // Objects that break code which prints or compares them: {"toString": 1}.
      fc.dictionary(fc.constantFrom(...protoKeys), tie('value'), { minKeys: 1, maxKeys: 2 })
    )
  }))
  return value
}

/** A request body: an object of the route's fields, a bare JSON value, or raw text. */
export function oddBody (fields: readonly string[]): fc.Arbitrary<{ json?: unknown, raw?: string }> {
  const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...fields) }, fc.constantFrom(...protoKeys), fc.string({ maxLength: 8 }))
  return fc.oneof(
    { weight: 4, arbitrary: fc.dictionary(key, oddValue(fields), { maxKeys: 4 }).map(json => ({ json })) },
    oddValue(fields).map(json => ({ json })),
    fc.jsonValue({ maxDepth: 3 }).map(json => ({ json })),
    fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('{', '{"phone":', '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}',
        '{"a":1,"a":2}', 'null', '[]', '"x"', '1e400', '-0', '\ufeff{}', '{"phone":"\\ud800"}', 'phone=1&phone=2', '_csrf=&phone=%', 'a=%E0%A4%A')
    ).map(raw => ({ raw }))
  )
}

/** Turns a generated body into what goes on the wire for a content type. */
export function encodeBody (body: { json?: unknown, raw?: string }, contentType: string): string {
  if (body.raw !== undefined) return body.raw
  if (contentType.includes('x-www-form-urlencoded') && body.json !== null && typeof body.json === 'object') {
    const pairs: Array<[string, string]> = []
    for (const [key, value] of Object.entries(body.json)) {
      for (const item of Array.isArray(value) ? value as unknown[] : [value]) pairs.push([key, typeof item === 'string' ? item : JSON.stringify(item) ?? ''])
    }
    return new URLSearchParams(pairs).toString()
  }
  return JSON.stringify(body.json) ?? ''
}

/** Mostly the types the routes take, so bodies get past the parser; the rest odd. */
export const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  { weight: 2, arbitrary: fc.constant('application/x-www-form-urlencoded') },
  { weight: 2, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json; charset=utf-16', 'application/json;charset=latin1', 'application/x-www-form-urlencoded; charset=iso-8859-1') },
  { weight: 2, arbitrary: fc.constantFrom('application/vnd.api+json', 'application/json, text/plain', 'text/plain', 'text/html', 'application/xml', 'multipart/form-data; boundary=x', 'multipart/form-data', '*/*', ';', 'application/', 'json', '') }
)

/** Characters an HTTP/1.1 header value may carry (Node's parser refuses the rest). */
const headerChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  fc.constant(0x09),
  fc.integer({ min: 0x80, max: 0xff })
).map(code => String.fromCharCode(code))
export const headerText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: headerChar, maxLength: 60 }) },
  // Huge, but within Node's 16 KiB for all headers together.
  fc.tuple(fc.string({ unit: headerChar, minLength: 1, maxLength: 4 }), fc.integer({ min: 200, max: 2000 })).map(([s, n]) => s.repeat(n))
)

export const acceptLanguage = fc.oneof(
  fc.constantFrom('ru', 'en-US,en;q=0.9', 'ru-RU;q=0.5, *;q=0', '*', 'ru;q=abc', 'ru;q=2', 'ru;q=-1', ';;;', ',,,', 'zz-ZZ', '__proto__', 'constructor;q=1', 'toString', 'hasOwnProperty, ru'),
  headerText
)

/** Cookie headers: junk in our cookies' names, duplicates, bad encodings, huge values. */
export const cookieJunk = fc.oneof(
  fc.tuple(fc.constantFrom('phonepass', '__Host-phonepass', 'phonepass_lang', 'phonepass_device', '__Host-phonepass_device', '__proto__', 'constructor'), headerText.map(s => s.replace(/[;,]/g, '')))
    .map(([name, value]) => `${name}=${value}`),
  fc.constantFrom('phonepass=', 'phonepass=%', 'phonepass=%E0%A4%A', 'phonepass="x"', 'phonepass=a;phonepass=b', 'phonepass_lang=ru', 'phonepass_lang=__proto__', ';;;', '=', '=x', 'phonepass_device=v1.AAAAAAAAAAAAAAAAAAAAAA.99999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
  fc.array(fc.tuple(fc.string({ unit: headerChar, minLength: 1, maxLength: 10 }), fc.string({ unit: headerChar, maxLength: 40 })), { maxLength: 5 })
    .map(pairs => pairs.map(([name, value]) => `${name}=${value}`).join('; '))
)

/** Authorization values that are not a good token (a good one is the tests' own choice). */
export const authorizationJunk = fc.oneof(
  fc.constantFrom('', 'Bearer', 'Bearer ', 'Bearer  ', 'JWT', 'Basic dXNlcjpwYXNz', 'Bearer a.b.c', 'Bearer ...', 'bearer x y',
    'Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwidXNlcl9pZCI6MSwic2lkIjoieCIsImV4cCI6OTk5OTk5OTk5OX0.',
    'Bearer eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwidXNlcl9pZCI6IjEiLCJzaWQiOjEsImV4cCI6MX0.AAAA'),
  headerText.map(s => `Bearer ${s}`),
  headerText
)

/** X-Forwarded-For values, for an app that trusts its proxy. */
export const forwardedFor = fc.oneof(
  fc.constantFrom('1.2.3.4', '::1', '2001:db8::1', 'fe80::1%eth0', '::ffff:10.0.0.1', 'unknown', '', ',', ', ,', '999.999.999.999', '[::1]:80', '1.2.3.4:5678',
    '1.2.3.4, 5.6.7.8', ' 1.2.3.4 ,unknown', 'fe80::1%' + 'x'.repeat(100), '1.1.1.1, '.repeat(200)),
  fc.ipV4(), fc.ipV6(),
  fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('unknown', '_hidden', 'x'.repeat(70))), fc.option(fc.ipV4(), { nil: undefined }))
    .map(([first, second]) => second === undefined ? first : `${first}, ${second}`),
  headerText
)

/** Raw query strings: repeated and bracketed keys, bad escapes, numbers in odd forms. */
export const queryString = fc.oneof(
  fc.array(fc.oneof(
    fc.constantFrom('limit=1', 'limit=', 'limit=-1', 'limit=0', 'limit=1001', 'limit=1e3', 'limit=0x10', 'limit=1.5', 'limit=%D9%A1', 'limit=%EF%BC%91',
      'limit[]=1', 'limit=1&limit=2', 'offset=9007199254740993', 'offset=1e308', 'offset=-0', 'offset=Infinity', '__proto__[limit]=1', '__proto__=x',
      'constructor[prototype][polluted]=1', 'next=//evil.example', 'next=/\\evil.example', 'next=https://evil.example', 'next=/profile', 'next=%2F%2Fevil',
      'next=/%0d%0aSet-Cookie:x=1', '%', '%zz', '%00', '%ED%A0%80', '&&&', '=', 'a=b=c', 'next[]=/x'),
    fc.tuple(fc.constantFrom('limit', 'offset', 'next', 'phone', '__proto__', 'x'), oddString).map(([key, value]) => `${key}=${percentEncode(value.slice(0, 600))}`)
  ), { maxLength: 4 }).map(parts => parts.join('&')),
  fc.string({ unit: headerChar, maxLength: 60 }).map(percentEncodeUnsafe)
)

/** Percent-encodes any string, lone surrogates too (as their UTF-8 replacement). */
export function percentEncode (value: string): string {
  return [...Buffer.from(value, 'utf8')].map(byte => '%' + byte.toString(16).padStart(2, '0').toUpperCase()).join('')
}

/** Leaves what a URL may carry as it is and encodes only what it may not. */
function percentEncodeUnsafe (value: string): string {
  return value.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%[\]]/g, ch => percentEncode(ch))
}

/** The names Object.prototype has now, to compare after a run: no key was added to it. */
export function prototypeSnapshot (): string[] {
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype].flatMap(proto => Object.getOwnPropertyNames(proto)).sort()
}

/** True when a stack trace, a source path or an error's constructor text shows in a body. */
export function showsInternals (body: string): boolean {
  return /\n\s+at .+:\d+:\d+|\bat (async )?\w+ \(|node_modules|\/src\/|\.ts:\d+|TypeError|ReferenceError|SyntaxError|RangeError|Template render error/.test(body)
}

/** Replaces the stand-in strings of a generated value with real ones (tokens, codes). */
export function replaceReal (value: unknown, real: Record<string, string>): unknown {
  if (typeof value === 'string') return real[value] ?? value
  if (Array.isArray(value)) return value.map(item => replaceReal(item, real))
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {}
    // defineProperty, so a "__proto__" key stays an own key, as JSON.parse would make it.
    for (const [key, item] of Object.entries(value)) Object.defineProperty(copy, key, { value: replaceReal(item, real), enumerable: true })
    return copy
  }
  return value
}

/** The session id (sid claim) of an access token. */
export function sessionIdOf (access: string): string {
  return (JSON.parse(Buffer.from(access.split('.')[1] ?? '', 'base64url').toString()) as { sid: string }).sid
}

const messagePatterns = [
  // Beside a field (a phone number in it kept whole in a span), above a form, on the error page.
  /<p class="error" id="[\w-]+-error">((?:[^<]|<\/?span[^>]*>)*)<\/p>/,
  /<div class="problem" role="alert"><h2>[^<]*<\/h2><p>([^<]*)<\/p><\/div>/,
  /<p class="lead">([^<]*)<\/p>\s*(?:<p>[^<]*<\/p>\s*)?<p><a href="\/">/
]

/** What is wrong with a page's answer, or undefined when it is as it must be. */
export function pageProblem (res: LightMyRequestResponse): string | undefined {
  if (res.statusCode >= 500 && !(res.statusCode === 503 && res.headers['retry-after'] !== undefined)) return `status ${res.statusCode}`
  if (showsInternals(res.body)) return 'internals in the body'
  if (res.body.includes(markup.slice(2))) return 'markup reflected unescaped'
  if (res.statusCode >= 300 && res.statusCode < 400) {
    const location = String(res.headers.location)
    return /^\/(?![/\\])[^\s]*$/.test(location) ? undefined : `a redirect off the site: ${location}`
  }
  if (res.statusCode < 400) return undefined
  if (!String(res.headers['content-type']).startsWith('text/html')) return `a ${res.statusCode} of type ${res.headers['content-type']}`
  const message = messagePatterns.map(pattern => pattern.exec(res.body)?.[1]?.replace(/<[^>]*>/g, '').trim()).find(text => text !== undefined && text !== '')
  if (message === undefined) return 'no visible message'
  if (/^[a-z_]+$/.test(message) || message.length < 8) return `a message no one can read: ${message}`
  return undefined
}
