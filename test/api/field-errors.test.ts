import t from 'tap'
import type { InjectOptions } from 'fastify'
import { bearer, buildTestApp, signIn } from '../helpers/app.js'

// A refused field says what is wrong with it in words a person understands, the way DRF's
// serializers said it: the type the field wants, a blank value, a number out of range; what
// belongs to no field sits under non_field_errors, as in DRF.

t.test('each kind of bad field has its own message, in English and Russian', async t => {
  const context = await buildTestApp(t)
  const { access } = await signIn(context, '+79123456701')
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const cases: Array<{ request: InjectOptions, en: Record<string, string[]>, ru: Record<string, string[]> }> = [
    {
      request: { method: 'GET', url: '/api/users/me/invited/?limit=abc', headers: bearer(access) },
      en: { limit: ['Must be a whole number.'] },
      ru: { limit: ['Должно быть целым числом.'] }
    },
    {
      request: { method: 'GET', url: '/api/users/me/invited/?limit=0&offset=-1', headers: bearer(access) },
      en: { limit: ['Must be at least 1.'], offset: ['Must be at least 0.'] },
      ru: { limit: ['Не меньше 1.'], offset: ['Не меньше 0.'] }
    },
    {
      request: { method: 'GET', url: '/api/users/me/invited/?limit=1001', headers: bearer(access) },
      en: { limit: ['Must be at most 1000.'] },
      ru: { limit: ['Не больше 1000.'] }
    },
    {
      request: { method: 'POST', url: '/api/users/register/', payload: { phone: '' } },
      en: { phone: ['This field may not be blank.'] },
      ru: { phone: ['Поле не может быть пустым.'] }
    },
    {
      request: { method: 'POST', url: '/api/users/register/', payload: { phone: null } },
      en: { phone: ['This field may not be blank.'] },
      ru: { phone: ['Поле не может быть пустым.'] }
    },
    {
      // A list is not one value: DRF refused it too.
      request: { method: 'POST', url: '/api/users/register/', payload: { phone: ['+79123456789'] } },
      en: { phone: ['Must be text.'] },
      ru: { phone: ['Должно быть текстом.'] }
    },
    {
      request: { method: 'POST', url: '/api/users/register/', payload: 'phone=%2B79123456781&phone=%2B79123456782', headers: form },
      en: { phone: ['Must be text.'] },
      ru: { phone: ['Должно быть текстом.'] }
    },
    {
      request: { method: 'PATCH', url: '/api/profile/', payload: '[1, 2]', headers: { ...bearer(access), 'content-type': 'application/json' } },
      en: { non_field_errors: ['Send the fields as a JSON object or a form.'] },
      ru: { non_field_errors: ['Передайте поля объектом JSON или формой.'] }
    },
    {
      // Logout takes an object or nothing: a body of another kind hears what it should be.
      request: { method: 'POST', url: '/api/users/logout/', payload: '"x"', headers: { 'content-type': 'application/json' } },
      en: { non_field_errors: ['Send the fields as a JSON object or a form.'] },
      ru: { non_field_errors: ['Передайте поля объектом JSON или формой.'] }
    },
    {
      request: { method: 'POST', url: '/api/users/logout/', payload: '[1]', headers: { 'content-type': 'application/json' } },
      en: { non_field_errors: ['Send the fields as a JSON object or a form.'] },
      ru: { non_field_errors: ['Передайте поля объектом JSON или формой.'] }
    },
    {
      // Logout takes a body or none: a blank refresh token is about the field, not the body.
      request: { method: 'POST', url: '/api/users/logout/', payload: { refresh: '' } },
      en: { refresh: ['This field may not be blank.'] },
      ru: { refresh: ['Поле не может быть пустым.'] }
    }
  ]
  for (const { request, en, ru } of cases) {
    const label = `${String(request.method)} ${String(request.url)} ${JSON.stringify(request.payload ?? '')}`
    for (const [language, errors] of [['en', en], ['ru', ru]] as const) {
      const res = await context.app.inject({ ...request, headers: { ...request.headers, 'accept-language': language } })
      t.equal(res.statusCode, 400, `${label} (${language})`)
      t.equal(res.json().code, 'validation_error', `${label} (${language})`)
      t.same(res.json().errors, errors, `${label} (${language})`)
    }
  }
})
