const base = 'http://phonepass.invalid'

/**
 * The `next` target after sign-in, only if it stays on this site: "//evil.com", "/\evil.com"
 * and "https://evil.com" all leave it, so they give the fallback.
 */
export function localPathOr (candidate: unknown, fallback: string): string {
  if (typeof candidate !== 'string' || !candidate.startsWith('/') || candidate.length > 512) return fallback
  // Browsers read "\" as "/" and drop tabs and newlines, so "/\evil.com" is "//evil.com".
  if (/[\\\s]/.test(candidate) || candidate.startsWith('//')) return fallback
  let url: URL
  try {
    url = new URL(candidate, base)
  } catch {
    return fallback
  }
  if (url.origin !== base) return fallback
  // Dot segments resolve away: "/.//evil.com" becomes "//evil.com", another site again.
  if (url.pathname.startsWith('//')) return fallback
  return url.pathname + url.search
}
