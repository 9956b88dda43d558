// Takes every secret a token request carried, in each encoding it travelled in, out of text an identity service sent back.

/** What a redacted secret reads as. */
const REDACTED = '[redacted]'

export type Redact = (text: string) => string

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
export function formEncode (value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2)
}

/**
 * The forms a secret may come back in: as sent, form-encoded, percent-encoded, JSON-escaped and
 * base64 (a gateway's error page echoing the request, or a Basic header decoded or not).
 */
function formsOf (secret: string): string[] {
  return [secret, formEncode(secret), encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret).toString('base64')]
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * A function that replaces every form of every secret with [redacted]. Case is ignored (an echo
 * may change the case of %xx escapes); longer forms go first so that no tail of one survives.
 */
export function redactor (secrets: Iterable<string | undefined>): Redact {
  const forms = new Set<string>()
  for (const s of secrets) if (s !== undefined && s !== '') for (const f of formsOf(s)) forms.add(f)
  if (forms.size === 0) return (text) => text
  const pattern = new RegExp([...forms].sort((a, b) => b.length - a.length).map(escape).join('|'), 'gi')
  return (text) => text.replace(pattern, REDACTED)
}

/** A copy of a parsed JSON value with every string in it redacted. */
export function redactDeep (value: unknown, redact: Redact, depth = 0): unknown {
  if (typeof value === 'string') return redact(value)
  if (value === null || typeof value !== 'object' || depth > 8) return value
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact, depth + 1))
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), redactDeep(v, redact, depth + 1)]))
}
