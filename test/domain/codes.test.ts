import t from 'tap'
import { generateInviteCode, generateOneTimeCode, inviteCodeAlphabet, normalizeInviteCode } from '../../src/domain/codes.js'

t.test('one-time codes have the asked length and keep leading zeros', async t => {
  t.equal(generateOneTimeCode(4, () => 0), '0000')
  for (let i = 0; i < 200; i++) t.match(generateOneTimeCode(6), /^\d{6}$/)
})

t.test('invite codes use an alphabet without look-alikes', async t => {
  t.notMatch(inviteCodeAlphabet, /[01OIL]/)
  const seen = new Set<string>()
  for (let i = 0; i < 500; i++) {
    const code = generateInviteCode()
    t.match(code, /^[2-9A-HJKMNP-Z]{6}$/)
    seen.add(code)
  }
  t.ok(seen.size > 495, 'codes are random')
})

t.test('typed invite codes are case-insensitive, spaces and dashes ignored', async t => {
  t.equal(normalizeInviteCode(' k7m-2xq '), 'K7M2XQ')
  for (const bad of ['', 'K7M2X', 'K7M2XQZ', 'K7M2X0', 'K7M2XI', 'K7M2X!']) {
    t.throws(() => normalizeInviteCode(bad), { code: 'invite_code_invalid' }, bad)
  }
})
