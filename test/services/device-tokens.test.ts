import t from 'tap'
import { createDeviceTokens } from '../../src/services/device-tokens.js'
import { deriveKeys } from '../../src/services/keys.js'
import { manualClock } from '../helpers/app.js'

const day = 86_400_000
const [oldKey, newKey] = deriveKeys(['a'.repeat(32), 'b'.repeat(32)]).device

t.test('a device token is good for its phone only, until it expires', async t => {
  const clock = manualClock()
  const tokens = createDeviceTokens([oldKey!], 30, clock)
  const token = tokens.issue('+79123456789')
  const deviceId = tokens.verify(token, '+79123456789')
  t.match(deviceId, /^[A-Za-z0-9_-]{22}$/)
  t.notMatch(token, /79123456789/, 'the phone cannot be read from the token')
  t.equal(tokens.verify(token, '+79123456780'), undefined, 'another phone')
  t.equal(tokens.issue('+79123456789', deviceId).split('.')[1], deviceId, 'a device keeps its id')
  clock.advance(30 * day - 1000)
  t.equal(tokens.verify(token, '+79123456789'), deviceId, 'still good just before it expires')
  clock.advance(1000)
  t.equal(tokens.verify(token, '+79123456789'), undefined, 'expired')
})

t.test('tampered, malformed or missing tokens are no tokens', async t => {
  const tokens = createDeviceTokens([oldKey!], 30, manualClock())
  const token = tokens.issue('+79123456789')
  const [version, id, expiry, mac] = token.split('.')
  const later = `${version}.${id}.${Number(expiry) + 86_400}.${mac}`
  t.equal(tokens.verify(later, '+79123456789'), undefined, 'a longer life')
  const otherId = `${version}.${'A'.repeat(22)}.${expiry}.${mac}`
  t.equal(tokens.verify(otherId, '+79123456789'), undefined, 'another device id')
  for (const bad of [undefined, '', 'v1', 'v2.' + token.slice(3), token + 'x', 'v1.a.b.c']) {
    t.equal(tokens.verify(bad, '+79123456789'), undefined, JSON.stringify(bad))
  }
  const foreign = createDeviceTokens([newKey!], 30, manualClock()).issue('+79123456789')
  t.equal(tokens.verify(foreign, '+79123456789'), undefined, 'signed with another secret')
})

t.test('a secret rotation keeps devices known', async t => {
  const before = createDeviceTokens([oldKey!], 30, manualClock())
  const after = createDeviceTokens([newKey!, oldKey!], 30, manualClock())
  const token = before.issue('+79123456789')
  t.equal(after.verify(token, '+79123456789'), before.verify(token, '+79123456789'))
})
