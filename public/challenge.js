// The fraud guard's step-up check (views/challenge.njk): an ALTCHA v1 proof of work, solved
// here with the browser's own SHA-256, so no third-party script is needed and the CSP stays
// 'self' (a captcha provider's widget, where the operator chose one, is at the end). The solution goes in the hidden `challenge` input; the status line (role=status)
// says the check runs and when it is done. The form is not sent by itself: the person sends it
// (WCAG 3.2.2, no change of context they did not ask for). If they press the button while the
// check still runs, the form is sent as soon as it is done, which is what they asked for.

const batchSize = 500
const encoder = new TextEncoder()

for (const input of document.querySelectorAll('input[name="challenge"][data-challenge]')) {
  void guard(input)
}

// With a captcha provider (FRAUD_CHALLENGE=turnstile|hcaptcha) its widget solves the check and
// calls these by name (data-callback); the token goes in the same hidden input.
const widgetInput = document.querySelector('input[name="challenge"][data-provider]')
if (widgetInput !== null) {
  const status = widgetInput.form.querySelector('.challenge-status')
  status.textContent = status.dataset.working
  globalThis.phonepassChallengeSolved = (token) => {
    widgetInput.value = token
    status.textContent = status.dataset.done
  }
  globalThis.phonepassChallengeExpired = () => {
    widgetInput.value = ''
    status.textContent = status.dataset.working
  }
  widgetInput.form.addEventListener('submit', (event) => {
    if (widgetInput.value !== '') return
    event.preventDefault()
    status.textContent = status.dataset.waiting
  })
}

async function guard (input) {
  const form = input.form
  const status = form.querySelector('.challenge-status')
  const say = (text) => { status.textContent = text }
  let solved = false
  let sendWhenSolved = false
  form.addEventListener('submit', (event) => {
    if (solved) return
    event.preventDefault()
    sendWhenSolved = true
    say(status.dataset.waiting)
  })
  say(status.dataset.working)
  try {
    const challenge = JSON.parse(input.dataset.challenge)
    const started = performance.now()
    const number = await solve(challenge)
    if (number === undefined) throw new Error('no solution within maxnumber')
    input.value = btoa(JSON.stringify({ algorithm: challenge.algorithm, challenge: challenge.challenge, number, salt: challenge.salt, signature: challenge.signature }))
    // For measurement (test/web/fraud-challenge-browser.test.ts): how long the solve took.
    input.dataset.solvedMs = String(Math.round(performance.now() - started))
    solved = true
    if (sendWhenSolved) form.requestSubmit()
    else say(status.dataset.done)
  } catch {
    say(status.dataset.failed)
  }
}

/**
 * The number n in [0, maxnumber] with hex(digest(salt + n)) = challenge. Digests go in batches
 * of concurrent crypto.subtle calls, which resolve on their own tasks: the page keeps
 * answering keys and the screen reader between batches.
 */
async function solve ({ algorithm, challenge, maxnumber, salt }) {
  const max = maxnumber ?? 1_000_000
  const target = bytesOfHex(challenge)
  for (let start = 0; start <= max; start += batchSize) {
    const end = Math.min(start + batchSize, max + 1)
    const digests = []
    for (let n = start; n < end; n++) digests.push(crypto.subtle.digest(algorithm, encoder.encode(salt + n)))
    const found = (await Promise.all(digests)).findIndex(digest => equal(new Uint8Array(digest), target))
    if (found !== -1) return start + found
  }
  return undefined
}

function bytesOfHex (hex) {
  const bytes = new Uint8Array(hex.length / 2)
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return bytes
}

function equal (a, b) {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
