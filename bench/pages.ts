// Signs in through the pages as a browser does (no JavaScript), for the page scenarios'
// pool of session cookies: GET /login → POST /login → code from the SMS sink → POST /login/code.

class CookieJar {
  readonly #cookies = new Map<string, string>()
  keep (response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const at = pair.indexOf('=')
      const name = pair.slice(0, at)
      const value = pair.slice(at + 1)
      if (value === '') this.#cookies.delete(name)
      else this.#cookies.set(name, value)
    }
  }

  header (): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

async function csrfToken (url: string, jar: CookieJar): Promise<string> {
  const page = await fetch(url, { headers: { cookie: jar.header() } })
  jar.keep(page)
  const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1]
  if (token === undefined) throw new Error(`no CSRF token on ${url} (${page.status})`)
  return token
}

async function submit (base: string, page: string, action: string, form: Record<string, string>, jar: CookieJar): Promise<Response> {
  const body = new URLSearchParams({ _csrf: await csrfToken(`${base}${page}`, jar), ...form })
  const response = await fetch(`${base}${action}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', cookie: jar.header() },
    body
  })
  jar.keep(response)
  if (response.status !== 303) throw new Error(`POST ${action} answered ${response.status}`)
  return response
}

/** The Cookie header of a browser signed in to `phone` through the pages. */
export async function signInThroughPages (base: string, sinkUrl: string, phone: string): Promise<string> {
  const jar = new CookieJar()
  await submit(base, '/login', '/login', { phone }, jar)
  const code = await (await fetch(`${sinkUrl}/code/${encodeURIComponent(phone)}`)).text()
  const signedIn = await submit(base, '/login/code', '/login/code', { auth_code: code }, jar)
  if (signedIn.headers.get('location') !== '/profile') throw new Error(`signed in to ${signedIn.headers.get('location') ?? 'nowhere'}`)
  return jar.header()
}
