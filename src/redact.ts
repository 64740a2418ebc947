/**
 * Credentials in URLs (`postgres://user:password@host`, `https://token@host`) are cut out of
 * every configuration message and log line. A PostgreSQL URL keeps its user, the role that
 * PostgreSQL's own messages name anyway; any other URL loses its whole user info, which may
 * be a token on its own.
 */
const hidden = '***'

// The user info runs to the last @ before the host ends (as the WHATWG URL parser reads it),
// so a password with a raw @ is cut out whole. Quotes end it too: a log line is JSON.
const credentialsInUrl = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'`<>]+)@/gi

function withoutPassword (scheme: string, userInfo: string): string {
  if (!/^postgres(ql)?:/i.test(scheme)) return hidden
  const colon = userInfo.indexOf(':')
  return colon < 0 ? userInfo : `${userInfo.slice(0, colon)}:${hidden}`
}

/** `text` with the user info of every URL in it cut out. */
export function redactCredentials (text: string): string {
  // Most log lines have no URL with user info; they are passed on without the regular expression.
  if (!text.includes('://') || !text.includes('@')) return text
  return text.replace(credentialsInUrl, (_match, scheme: string, userInfo: string) => `${scheme}${withoutPassword(scheme, userInfo)}@`)
}

/**
 * One value that should be a URL, shown in a message because it is wrong: everything between
 * `://` and its last @ is taken for user info, so a malformed URL (a raw / in its password)
 * shows none of it either.
 */
export function redactUrl (value: string): string {
  const start = value.indexOf('://')
  const at = value.lastIndexOf('@')
  if (start < 0 || at < start) return value
  const scheme = value.slice(0, start + 3)
  return `${scheme}${withoutPassword(scheme, value.slice(start + 3, at))}${value.slice(at)}`
}
