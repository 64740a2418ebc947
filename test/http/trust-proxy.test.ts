import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

// Each form of TRUST_PROXY, through app.inject (whose connection comes from 127.0.0.1):
// which address the per-IP limit counts, and which protocol the cookie is set for.
const forms: Array<{ trust: string, forwardedFor: string, client: string }> = [
  { trust: 'false', forwardedFor: '203.0.113.7', client: '127.0.0.1' },
  { trust: '1', forwardedFor: '198.51.100.1, 203.0.113.7', client: '203.0.113.7' },
  { trust: '2', forwardedFor: '198.51.100.1, 203.0.113.7, 104.22.17.40', client: '203.0.113.7' },
  { trust: '127.0.0.1', forwardedFor: '198.51.100.1, 203.0.113.7', client: '203.0.113.7' },
  { trust: '127.0.0.0/8, 104.22.0.0/16', forwardedFor: '198.51.100.1, 203.0.113.7, 104.22.17.40', client: '203.0.113.7' },
  { trust: 'true', forwardedFor: '203.0.113.7, 198.51.100.1', client: '203.0.113.7' }
]

for (const { trust, forwardedFor, client } of forms) {
  t.test(`TRUST_PROXY=${trust}: the client is ${client}`, async t => {
    const { app } = await buildTestApp(t, { TRUST_PROXY: trust, LIMIT_CODES_PER_IP_HOUR: '1' })
    const first = await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123456701' }, headers: { 'x-forwarded-for': forwardedFor } })
    t.equal(first.statusCode, 200)
    // With a budget of one send an hour, a second send is refused only from the same client,
    // whatever it prepends to the header (true believes the whole header: it can't hold that).
    const sameClient = { 'x-forwarded-for': trust === 'true' ? forwardedFor : `192.0.2.55, ${forwardedFor}` }
    t.equal((await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123456702' }, headers: sameClient })).json().code, 'rate_limited', 'the same client')
    if (trust !== 'false') {
      const other = forwardedFor.replace('203.0.113.7', '203.0.113.8')
      t.equal((await app.inject({ method: 'POST', url: '/api/users/register/', payload: { phone: '+79123456703' }, headers: { 'x-forwarded-for': other } })).statusCode, 200, 'another client behind the same proxies')
      const page = await app.inject({ method: 'GET', url: '/login', headers: { 'x-forwarded-proto': 'https' } })
      t.match(String(page.headers['set-cookie']), /^__Host-phonepass=.*; Secure/, 'HTTPS at the proxy: a Secure __Host- cookie')
    }
  })
}
