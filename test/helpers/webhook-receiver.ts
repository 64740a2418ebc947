import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'

/** A webhook secret in the Standard Webhooks form: whsec_ and 32 random bytes in base64. */
export function newWebhookSecret (): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

export interface ReceivedEvent {
  /** webhook-id */
  id: string
  /** webhook-timestamp, seconds */
  timestamp: number
  /** webhook-signature as received */
  signature: string
  type: string
  body: { type: string, timestamp: string, data: Record<string, unknown> }
  /** What the receiver answered: a status, or 'hang' (no answer until the sender gave up). */
  answer: number | 'hang'
}

/** How the receiver answers one request: a status, or 'hang' (never answers). */
export type Answer = number | 'hang'

export interface WebhookReceiver {
  url: string
  /** Every request that arrived with a valid signature, in order of arrival. */
  received: ReceivedEvent[]
  /** Requests whose signature did not verify (each a test failure). */
  rejected: string[]
  /** Times a request arrived while another of the same webhook-id was still open. */
  overlaps: number
  /** Requests being answered now (hanging ones included). */
  open: () => number
  /** Events answered 2xx, by webhook-id. */
  delivered: () => ReceivedEvent[]
  /** Sets how the next requests are answered; a function is asked per request. */
  answer: (next: Answer | ((event: ReceivedEvent) => Answer | Promise<Answer>)) => void
  waitFor: (check: () => boolean, what: string, timeoutMs?: number) => Promise<void>
  close: () => Promise<void>
}

/**
 * A real HTTP server standing in for the system that receives phonepass's events. Signatures
 * are checked with the standardwebhooks package (Svix's reference), not phonepass's code.
 * `checkTimestamp: false` (for a test on a manual clock whose time is not today's) checks the
 * signature without the library's 5-minute freshness window, by comparing with its own `sign`.
 */
export async function startWebhookReceiver (secret: string, options: { checkTimestamp?: boolean, path?: string } = {}): Promise<WebhookReceiver> {
  const webhook = new Webhook(secret)
  const received: ReceivedEvent[] = []
  const rejected: string[] = []
  const inFlight = new Map<string, number>()
  const hanging = new Set<ServerResponse>()
  let overlaps = 0
  let open = 0
  let decide: (event: ReceivedEvent) => Answer | Promise<Answer> = () => 204

  function verify (raw: string, headers: Record<string, string>): void {
    if (options.checkTimestamp !== false) {
      webhook.verify(raw, headers)
      return
    }
    const expected = webhook.sign(headers['webhook-id'] ?? '', new Date(Number(headers['webhook-timestamp']) * 1000), raw)
    if (!(headers['webhook-signature'] ?? '').split(' ').includes(expected)) throw new Error('no matching signature')
  }

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let raw = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => { raw += chunk })
    request.on('end', () => {
      const headers = request.headers as Record<string, string>
      try {
        verify(raw, headers)
      } catch (error) {
        rejected.push(`${(error as Error).message}: ${raw}`)
        response.writeHead(400).end()
        return
      }
      const id = headers['webhook-id'] ?? ''
      const body = JSON.parse(raw) as ReceivedEvent['body']
      const event: ReceivedEvent = { id, timestamp: Number(headers['webhook-timestamp']), signature: headers['webhook-signature'] ?? '', type: body.type, body, answer: 'hang' }
      received.push(event)
      if ((inFlight.get(id) ?? 0) > 0) overlaps++
      inFlight.set(id, (inFlight.get(id) ?? 0) + 1)
      open++
      response.on('close', () => {
        open--
        hanging.delete(response)
        inFlight.set(id, (inFlight.get(id) ?? 1) - 1)
      })
      void Promise.resolve(decide(event)).then(answer => {
        event.answer = answer
        if (answer === 'hang') hanging.add(response)
        else response.writeHead(answer).end()
      })
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}${options.path ?? '/events'}`,
    received,
    rejected,
    get overlaps () { return overlaps },
    open: () => open,
    delivered: () => received.filter(event => typeof event.answer === 'number' && event.answer >= 200 && event.answer < 300),
    answer (next) { decide = typeof next === 'function' ? next : () => next },
    async waitFor (check, what, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs
      while (!check()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    },
    async close () {
      for (const response of hanging) response.destroy()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
