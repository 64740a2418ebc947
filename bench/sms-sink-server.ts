import { createServer } from 'node:http'

// Stands in for an SMS gateway: keeps the last code per phone, hands it out on GET /code/<phone>.
const codes = new Map<string, string>()
const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url?.startsWith('/code/') === true) {
    const code = codes.get(decodeURIComponent(request.url.slice('/code/'.length)))
    response.writeHead(code === undefined ? 404 : 200).end(code ?? '')
    return
  }
  let raw = ''
  request.on('data', (chunk: Buffer) => { raw += chunk.toString() })
  request.on('end', () => {
    const { to, body } = JSON.parse(raw) as { to: string, body: string }
    const code = /\b(\d{4,8})\b/.exec(body)?.[1]
    if (code !== undefined) codes.set(to, code)
    if (codes.size > 200_000) codes.clear()
    response.writeHead(202).end()
  })
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT ?? 3200), '127.0.0.1', () => process.send?.('ready'))
process.on('SIGTERM', () => { server.close(); process.exit(0) })
