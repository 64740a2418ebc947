// WebOTP (Android Chrome): the SMS's last line `@host #code` lets the browser offer the code
// to this site; taken, it fills the field and signs in. Progressive: without the API, or if the
// person types first, nothing changes. A module script, so the strict CSP needs no exception.
const field = document.querySelector('input[autocomplete="one-time-code"]')
if (field !== null && 'OTPCredential' in window) {
  const form = field.form
  const stop = new AbortController()
  form?.addEventListener('submit', () => { stop.abort() })
  navigator.credentials.get({ otp: { transport: ['sms'] }, signal: stop.signal }).then((otp) => {
    if (otp === null || typeof otp.code !== 'string' || field.value !== '') return
    field.value = otp.code
    form?.requestSubmit()
  }).catch(() => { /* dismissed, aborted or unsupported: the person types the code */ })
}
