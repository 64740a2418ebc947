// Passkeys on the pages (issue 24), an ES module served by phonepass with the library it
// imports: no inline script, no CDN. Without JavaScript the page is the phone-and-code page it
// was; every control here starts hidden and shows only where the browser can use it.
import {
  browserSupportsWebAuthn, browserSupportsWebAuthnAutofill, startAuthentication, startRegistration, WebAuthnAbortService
} from '/assets/webauthn/index.js'

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? ''
const status = document.getElementById('passkey-status')

async function postJson (url, body) {
  const answer = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'csrf-token': csrf },
    body: JSON.stringify(body ?? {})
  })
  const json = await answer.json().catch(() => ({}))
  if (!answer.ok) throw Object.assign(new Error(json.detail ?? answer.statusText), { detail: json.detail })
  return json
}

function tell (error) {
  // A person who closed the browser's dialog needs no message.
  if (error?.name === 'NotAllowedError' || error?.name === 'AbortError') return
  if (status === null) return
  status.textContent = error?.detail ?? status.dataset.failed
  status.hidden = false
}

/** Sign-in: with the button, or from the phone field's autofill (conditional mediation). */
async function signIn (button, autofill) {
  const optionsJSON = await postJson(button.dataset.options)
  const response = await startAuthentication({ optionsJSON, useBrowserAutofill: autofill })
  const next = document.querySelector('input[name="next"]')?.value
  const done = await postJson(button.dataset.verify, { response, next })
  window.location.assign(done.next)
}

/** Adding: with the button, or quietly after a phone sign-in where the browser offers it (conditional create). */
async function add (button, quietly) {
  const optionsJSON = await postJson(button.dataset.options)
  const response = await startRegistration({ optionsJSON, useAutoRegister: quietly })
  await postJson(button.dataset.verify, { response })
  // A full load (not a jump to the fragment) shows the new list and the flash.
  window.location.assign(button.dataset.done ?? '/profile')
}

/** An admin's second factor: one of their own passkeys, for this session. */
async function prove (button) {
  const optionsJSON = await postJson(button.dataset.options)
  const response = await startAuthentication({ optionsJSON })
  const done = await postJson(button.dataset.verify, { response })
  window.location.assign(done.next)
}

if (browserSupportsWebAuthn()) {
  const signInButton = document.getElementById('passkey-sign-in')
  if (signInButton !== null) {
    signInButton.hidden = false
    for (const hidden of document.querySelectorAll('[data-passkey-only]')) hidden.hidden = false
    signInButton.addEventListener('click', () => {
      WebAuthnAbortService.cancelCeremony()
      signIn(signInButton, false).catch(tell)
    })
    if (await browserSupportsWebAuthnAutofill()) signIn(signInButton, true).catch(tell)
  }
  const proveButton = document.getElementById('passkey-prove')
  if (proveButton !== null) {
    proveButton.hidden = false
    document.getElementById('passkey-no-script')?.remove()
    proveButton.addEventListener('click', () => { prove(proveButton).catch(tell) })
  }
  const addButton = document.getElementById('passkey-add')
  if (addButton !== null) {
    addButton.hidden = false
    document.getElementById('passkey-no-script')?.remove()
    addButton.addEventListener('click', () => { add(addButton, false).catch(tell) })
    if (addButton.dataset.quietly === 'true' && typeof PublicKeyCredential.getClientCapabilities === 'function') {
      const capabilities = await PublicKeyCredential.getClientCapabilities().catch(() => ({}))
      // Silently, or not at all: a quiet attempt that fails says nothing.
      if (capabilities.conditionalCreate === true) add(addButton, true).catch(() => {})
    }
  }
}
