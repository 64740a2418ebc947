import { formatPhoneForDisplay } from '../../domain/phone.js'
import { keptFormat, type Locale } from '../../i18n/catalogue.js'
import type { SessionRow } from '../../store/schema.js'
import type { Profile } from '../../services/profile-service.js'
import type { Passkey } from '../../services/passkey-service.js'
import { translate } from '../../i18n/catalogue.js'

export function formatMoment (locale: Locale, epochMs: number): string {
  const format = keptFormat(`moment ${locale}`, () => new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }))
  return format.format(epochMs) + ' UTC'
}

/** "Chrome on Linux" from a user agent: enough for a person to recognise a device. */
export function describeDevice (userAgent: string | null): string | undefined {
  if (userAgent === null) return undefined
  const browser = /(Firefox|Edg|OPR|YaBrowser|Chrome|Chromium|Safari)\//.exec(userAgent)?.[1]
  const system = /(Windows|Android|iPhone|iPad|Mac OS X|Linux|CrOS)/.exec(userAgent)?.[1]
  const names: Record<string, string> = { Edg: 'Edge', OPR: 'Opera', YaBrowser: 'Yandex Browser', 'Mac OS X': 'macOS', CrOS: 'ChromeOS' }
  const name = (part: string | undefined) => part === undefined ? undefined : names[part] ?? part
  if (browser === undefined) return userAgent.slice(0, 60)
  return system === undefined ? name(browser) : `${name(browser)} · ${name(system)}`
}

export function profileView (locale: Locale, profile: Profile, sessions: SessionRow[], currentSessionId: string) {
  return {
    phone: formatPhoneForDisplay(profile.phone),
    inviteCode: profile.inviteCode,
    activatedInviteCode: profile.activatedInviteCode,
    invited: profile.invitedPhones.map(formatPhoneForDisplay),
    invitedCount: profile.invitedCount,
    sessions: sessions.map(session => ({
      current: session.id === currentSessionId,
      kind: session.kind,
      device: describeDevice(session.user_agent),
      since: formatMoment(locale, session.created_at)
    }))
  }
}

export function passkeysView (locale: Locale, state: { enabled: boolean, list: Passkey[], mayAdd: boolean, addQuietly: boolean }) {
  return {
    enabled: state.enabled,
    mayAdd: state.mayAdd,
    addQuietly: state.addQuietly,
    list: state.list.map(passkey => ({
      id: passkey.id,
      name: passkey.name,
      synced: passkey.backedUp,
      details: translate(locale, 'page_passkey_details', {
        created: formatMoment(locale, passkey.createdAt),
        used: passkey.lastUsedAt === null ? translate(locale, 'page_passkey_never') : formatMoment(locale, passkey.lastUsedAt)
      })
    }))
  }
}
