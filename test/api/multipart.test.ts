import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { bearer, buildTestApp, post } from '../helpers/app.js'

// DRF parsed multipart/form-data by default, so apps that send FormData must keep working.

/** A body as fetch would send this FormData, with its boundary. */
async function encoded (form: FormData): Promise<{ payload: Buffer, headers: Record<string, string> }> {
  const response = new Response(form)
  return { payload: Buffer.from(await response.arrayBuffer()), headers: { 'content-type': response.headers.get('content-type') ?? '' } }
}

function formOf (fields: Record<string, string>): FormData {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.append(name, value)
  return form
}

t.test('register, verify, PATCH, refresh and logout take multipart/form-data bodies', async t => {
  const context = await buildTestApp(t)
  const { app, sms } = context
  const phone = '+79123456701'
  const registered = await app.inject({ method: 'POST', url: '/api/users/register/', ...await encoded(formOf({ phone: '+7 912 345-67-01' })) })
  t.equal(registered.statusCode, 200)
  t.equal(registered.json().phone, phone)
  const verified = await app.inject({ method: 'POST', url: '/api/users/verify_code/', ...await encoded(formOf({ phone, auth_code: sms.lastCode(phone) })) })
  t.equal(verified.statusCode, 200)
  const { access, refresh } = verified.json<{ access: string, refresh: string }>()

  await post(app, '/api/users/register/', { phone: '+79123456702' })
  const inviter = await post(app, '/api/users/verify_code/', { phone: '+79123456702', auth_code: sms.lastCode('+79123456702') })
  const inviteCode = inviter.json<{ user: { invite_code: string } }>().user.invite_code
  const body = await encoded(formOf({ invite_code: inviteCode }))
  const activated = await app.inject({ method: 'PATCH', url: '/api/profile/', payload: body.payload, headers: { ...body.headers, ...bearer(access) } })
  t.equal(activated.statusCode, 200)
  t.equal(activated.json().activated_invite_code, inviteCode)

  const refreshed = await app.inject({ method: 'POST', url: '/api/token/refresh/', ...await encoded(formOf({ refresh })) })
  t.equal(refreshed.statusCode, 200)
  const loggedOut = await app.inject({ method: 'POST', url: '/api/users/logout/', ...await encoded(formOf({ refresh: refreshed.json().refresh })) })
  t.equal(loggedOut.statusCode, 204)
})

t.test('a multipart body that is broken, too big, holds a file or a repeated field: a 4xx that says so', async t => {
  const { app } = await buildTestApp(t)
  const boundary = 'b0undary'
  const part = (name: string, value: string, extra = '') => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${extra}\r\n\r\n${value}\r\n`
  const multipart = `multipart/form-data; boundary=${boundary}`
  const withFile = new FormData()
  withFile.append('phone', '+79123456703')
  withFile.append('photo', new Blob(['not a phone']), 'photo.jpg')
  const cases = [
    { name: 'no boundary', payload: `${part('phone', '+79123456703')}--${boundary}--\r\n`, type: 'multipart/form-data', status: 400, code: 'parse_error' },
    { name: 'cut short', payload: part('phone', '+79123456703'), type: multipart, status: 400, code: 'parse_error' },
    { name: 'not multipart at all', payload: 'hello', type: multipart, status: 400, code: 'parse_error' },
    { name: 'a prototype key', payload: `${part('__proto__', 'x')}--${boundary}--\r\n`, type: multipart, status: 400, code: 'parse_error' },
    { name: 'thirty fields', payload: `${Array.from({ length: 30 }, (_, i) => part(`f${i}`, 'v')).join('')}--${boundary}--\r\n`, type: multipart, status: 413, code: 'payload_too_large' },
    { name: 'a repeated field', payload: `${part('phone', '+79123456703')}${part('phone', '+79123456704')}--${boundary}--\r\n`, type: multipart, status: 400, code: 'validation_error' },
    { name: 'a long value', payload: `${part('phone', '9'.repeat(5000))}--${boundary}--\r\n`, type: multipart, status: 400, code: 'validation_error' }
  ]
  for (const { name, payload, type, status, code } of cases) {
    const res = await app.inject({ method: 'POST', url: '/api/users/register/', payload, headers: { 'content-type': type } })
    t.equal(res.statusCode, status, name)
    t.equal(res.json().code, code, name)
    t.ok(res.json().detail.length > 10, `${name}: ${String(res.json().detail)}`)
  }
  const file = await app.inject({ method: 'POST', url: '/api/users/register/', ...await encoded(withFile) })
  t.equal(file.statusCode, 413, 'a file is refused: no route takes one')
  t.equal(file.json().code, 'payload_too_large')
  const stillWorks = await app.inject({ method: 'POST', url: '/api/users/register/', ...await encoded(formOf({ phone: '+79123456705' })) })
  t.equal(stillWorks.statusCode, 200, 'and the service goes on answering')
})

t.test('a multipart body is held to the body limit like any other: declared too long, 413 unread; sent chunked, cut off once past it', async t => {
  const { app } = await buildTestApp(t)
  const boundary = 'b0undary'
  const phonePart = `--${boundary}\r\nContent-Disposition: form-data; name="phone"\r\n\r\n+79123456706\r\n--${boundary}--\r\n`
  // Before the fix busboy read any amount of text before the first part and dropped it.
  const declared = await app.inject({
    method: 'POST', url: '/api/users/register/', payload: 'x'.repeat(20_000) + '\r\n' + phonePart, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }
  })
  t.equal(declared.statusCode, 413)
  t.equal(declared.json().code, 'payload_too_large')
  t.equal(declared.headers.connection, 'close', 'the rest of the body is not read')

  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const outcome = await new Promise<string>(resolve => {
    const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/api/users/register/', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' } }, res => {
      res.resume()
      res.on('end', () => { resolve(`status ${String(res.statusCode)}`) })
    })
    req.on('error', (error: NodeJS.ErrnoException) => { resolve(`connection ${String(error.code)}`) })
    const chunk = Buffer.alloc(64 * 1024, 'x')
    let sent = 0
    const more = (): void => {
      // 16 MB of text before the part, unless the server cuts the connection first.
      while (sent < 256) {
        sent++
        if (!req.write(chunk)) { req.once('drain', more); return }
      }
      req.end('\r\n' + phonePart)
    }
    more()
  })
  t.match(outcome, /^(connection (ECONNRESET|EPIPE)|status 413)$/, `refused: ${outcome}`)
  const after = await app.inject({ method: 'POST', url: '/api/users/register/', payload: phonePart, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } })
  t.equal(after.statusCode, 200, 'and a small one still goes through')
})
