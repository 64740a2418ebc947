import t from 'tap'
import { formatPhoneForDisplay, maskPhone, normalizePhone } from '../../src/domain/phone.js'

const rules = { defaultCountry: 'RU' as const, isTestNumber: (phone: string) => phone === '+15550100001' }

t.test('formatted numbers normalise to E.164', async t => {
  const cases: Record<string, string> = {
    '+7 912 345-67-89': '+79123456789',
    '+7 (912) 345 67 89': '+79123456789',
    '8 912 345 67 89': '+79123456789',
    '89123456789': '+79123456789',
    '  +79123456789  ': '+79123456789',
    '+44 7400 123456': '+447400123456',
    '+1 (415) 555-2671': '+14155552671',
    '+1 555 010 0001': '+15550100001'
  }
  for (const [input, e164] of Object.entries(cases)) t.equal(normalizePhone(input, rules), e164, input)
})

t.test('anything but digits, spaces, brackets, dashes and a leading + is refused', async t => {
  for (const input of ['', ' ', '+', 'abc', '+7912345678x', '+7 912 345 67 89 ext. 1', '+7.912.345.67.89', '++79123456789',
    '７９１２３４５６７８９', '+٧٩١٢٣٤٥٦٧٨٩', '+7\n9123456789', '7'.repeat(40), '+1 555 010 0002', '+999 123456', '+7 000 000 00 00']) {
    t.throws(() => normalizePhone(input, rules), { code: 'phone_invalid', details: { field: 'phone' } }, JSON.stringify(input))
  }
})

t.test('display and log forms', async t => {
  t.equal(formatPhoneForDisplay('+79123456789'), '+7 912 345 67 89')
  t.equal(maskPhone('+79123456789'), '+7912***6789')
})
