import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface SinkMessage {
  to: string
  body: string
}

export type SinkBehaviour = (message: SinkMessage, response: ServerResponse) => void

export interface SmsSink {
  url: string
  messages: SinkMessage[]
  /** Each request's headers, in the order of messages (traceparent, signatures). */
  headers: IncomingHttpHeaders[]
  /** The code in the newest SMS to this phone. */
  lastCode: (phone: string) => string
  /** Changes how the sink answers: e.g. a 500, or no answer at all. */
  behave: (behaviour: SinkBehaviour) => void
  close: () => Promise<void>
}

const accept: SinkBehaviour = (_message, response) => {
  response.writeHead(202, { 'content-type': 'application/json' }).end('{"queued":true}')
}

/** A real HTTP server standing in for an SMS gateway, for the webhook provider to call. */
export async function startSmsSink (): Promise<SmsSink> {
  const messages: SinkMessage[] = []
  const headers: IncomingHttpHeaders[] = []
  const hanging = new Set<ServerResponse>()
  let behaviour = accept
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let raw = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => { raw += chunk })
    request.on('end', () => {
      const message = JSON.parse(raw) as SinkMessage
      messages.push(message)
      headers.push(request.headers)
      hanging.add(response)
      response.on('close', () => hanging.delete(response))
      behaviour(message, response)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/sms`,
    messages,
    headers,
    lastCode (phone) {
      const message = messages.filter(m => m.to === phone).at(-1)
      const code = message?.body.match(/\b(\d{4,8})\b/)?.[1]
      if (code === undefined) throw new Error(`no SMS with a code was sent to ${phone}`)
      return code
    },
    behave (next) { behaviour = next },
    async close () {
      for (const response of hanging) response.destroy()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
