import { randomInt } from 'node:crypto'
import { DomainError } from './errors.js'

/** Without look-alikes: no 0/O, 1/I/L. */
export const inviteCodeAlphabet = '23456789ABCDEFGHJKMNPQRSTUVWXYZ'
export const inviteCodeLength = 6
const inviteCodePattern = new RegExp(`^[${inviteCodeAlphabet}]{${inviteCodeLength}}$`)

export type RandomInt = (maxExclusive: number) => number

export const cryptoRandomInt: RandomInt = (maxExclusive) => randomInt(maxExclusive)

/** A one-time code of `length` decimal digits, leading zeros kept. */
export function generateOneTimeCode (length: number, random: RandomInt = cryptoRandomInt): string {
  let code = ''
  for (let i = 0; i < length; i++) code += String(random(10))
  return code
}

export function generateInviteCode (random: RandomInt = cryptoRandomInt): string {
  let code = ''
  for (let i = 0; i < inviteCodeLength; i++) code += inviteCodeAlphabet[random(inviteCodeAlphabet.length)]
  return code
}

/** Invite codes are case-insensitive and may be typed with spaces or a dash. */
export function normalizeInviteCode (raw: string): string {
  const code = raw.replace(/[\s-]/g, '').toUpperCase()
  if (!inviteCodePattern.test(code)) throw new DomainError('invite_code_invalid', { field: 'invite_code' })
  return code
}
