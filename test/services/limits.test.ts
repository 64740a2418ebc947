import t from 'tap'
import { ipSubject } from '../../src/services/limits.js'
import { createRetention } from '../../src/services/retention.js'
import { buildTestApp, post } from '../helpers/app.js'

const day = 86_400_000

t.test('IPv4 counts by address, IPv6 by /64', async t => {
  t.equal(ipSubject('203.0.113.7'), '203.0.113.7')
  t.equal(ipSubject('::ffff:203.0.113.7'), '203.0.113.7')
  t.equal(ipSubject('2001:db8:1:2::1'), '2001:db8:1:2::/64')
  t.equal(ipSubject('2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64')
  t.equal(ipSubject('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(ipSubject('::1'), '0:0:0:0::/64')
  t.equal(ipSubject('fe80::1%eth0'), 'fe80:0:0:0::/64')
})

t.test('the retention sweep deletes the counters of ended windows', async t => {
  const { app, clock, config } = await buildTestApp(t)
  await post(app, '/api/users/register/', { phone: '+79123456789' })
  const retention = createRetention({ db: app.db, config, clock })
  t.equal((await retention.sweep()).limitCounters, 0, 'all windows are live')
  clock.advance(3_600_000)
  t.equal((await retention.sweep()).limitCounters, 4, 'the hour windows (phone, phone\'s ceiling, IP, all SMS) ended')
  clock.advance(day)
  t.equal((await retention.sweep()).limitCounters, 3, 'and then the day windows: the phone\'s, its ceiling\'s, all SMS')
  t.same(await app.db.selectFrom('limit_counters').selectAll().execute(), [])
})
