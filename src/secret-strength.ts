/**
 * Secrets this repository ships for demos (README's Postman set-up, postman_environment.json):
 * anyone can read them, so production refuses them whatever variable holds them.
 */
export const demoSecrets: ReadonlySet<string> = new Set([
  'postman-admin-key-0123456789abcdefghijklmnop'
])

/**
 * Why `value` is too easy to guess for production, or undefined. Its length is the schema's
 * business; this catches what a person types instead of a random value: a demo value, few
 * different characters (`aaaa…`), one piece repeated (`abcabc…`), runs (`0123…`, `zyx…`).
 * Each limit sits far from what a random value does (docs/OPERATIONS.md, "Secrets in
 * production"): in hundreds of thousands of random hex strings of 16 characters, the shortest
 * allowed, none had fewer than 5 different characters (4 are asked for) or more than 5 in runs.
 */
export function secretWeakness (value: string): string | undefined {
  if (demoSecrets.has(value)) return 'is a demo value published with phonepass'
  const length = value.length
  const distinct = new Set(value).size
  // A quarter of the length, so that a short random hex value (16 symbols at most) passes.
  if (distinct < Math.min(8, Math.ceil(length / 4))) return `has only ${distinct} different character${distinct === 1 ? '' : 's'}`
  for (let period = 1; period <= length / 2; period++) {
    if (repeatsEvery(value, period)) return 'repeats a shorter piece'
  }
  if (2 * runLength(value) >= length) return 'is mostly runs of characters such as aaaa, abcd or 4321'
  return undefined
}

function repeatsEvery (value: string, period: number): boolean {
  for (let i = period; i < value.length; i++) {
    if (value[i] !== value[i - period]) return false
  }
  return true
}

/** Characters that continue a step of -1, 0 or +1 from the two before (the `c` of `abc`, `aaa`, `cba`). */
function runLength (value: string): number {
  let count = 0
  for (let i = 2; i < value.length; i++) {
    const step = value.charCodeAt(i) - value.charCodeAt(i - 1)
    if (Math.abs(step) <= 1 && step === value.charCodeAt(i - 1) - value.charCodeAt(i - 2)) count++
  }
  return count
}
