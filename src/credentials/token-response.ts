// Turns an identity service's answer into a token or a TokenRequestError with a clear message.
import { TokenRequestError } from './token-error.js'
import type { IdpAnswer } from './idp-http.js'
import { redactDeep } from './redact.js'
import type { IssuedToken } from './credential.js'

/** OAuth errors that mean the credential itself is refused (RFC 6749 §5.2; Keycloak's usage). */
const REJECTING = new Set(['invalid_client', 'unauthorized_client', 'invalid_grant'])
/** Visible ASCII only: a token goes into a header, so CR, LF, NUL and spaces are refused. */
const TOKEN_CHARS = /^[\x21-\x7E]+$/
/** A year: longer lifetimes (expires_in, or a JWT's exp) are treated as nonsense and capped. */
export const MAX_LIFETIME_S = 365 * 24 * 3600

/** Cuts a message from a remote service to something safe to log and show. */
export function clean (text: unknown, max = 200): string | undefined {
  if (typeof text !== 'string' || text === '') return undefined
  // eslint-disable-next-line no-control-regex
  const s = text.replace(/[\x00-\x1F\x7F]+/g, ' ').trim()
  return s.length > max ? `${s.slice(0, max)}…` : s
}

export function parseJson (answer: IdpAnswer): Record<string, unknown> | undefined {
  if (answer.truncated) return undefined
  try {
    const v: unknown = JSON.parse(answer.text)
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/**
 * An error answer's JSON with the request's secrets taken out of every string: the only way text
 * from an identity service reaches an error, a log line, /readyz or a 503 body.
 */
export function errorBody (answer: IdpAnswer): Record<string, unknown> | undefined {
  const body = parseJson(answer)
  return body === undefined ? undefined : redactDeep(body, answer.redact) as Record<string, unknown>
}

/** Describes a non-JSON or unexpected body without echoing it whole. */
export function describeBody (answer: IdpAnswer): string {
  if (answer.truncated) return 'an answer larger than 1 MiB'
  const type = answer.contentType.split(';')[0]?.trim() || 'no content type'
  return answer.text.trim() === '' ? `an empty body (${type})` : `a body that is not a JSON object (${type})`
}

/** Reads expires_in: a positive number of seconds, or undefined when absent. */
export function readExpiresIn (v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined
  const n = typeof v === 'string' ? Number(v) : v
  if (typeof n !== 'number' || !Number.isFinite(n)) return undefined
  return Math.min(n, MAX_LIFETIME_S)
}

/** A token from a service's answer, checked to be safe to put in a header. */
export function checkToken (token: unknown, service: string, field: string, status: number): string {
  if (typeof token !== 'string' || token === '') {
    throw new TokenRequestError('BAD_RESPONSE', `${service} answered ${status} without ${field}`, { status, error: 'no_access_token' })
  }
  if (!TOKEN_CHARS.test(token)) {
    throw new TokenRequestError('BAD_RESPONSE', `${service} answered ${field} with characters not allowed in a header`,
      { status, error: 'bad_access_token' })
  }
  return token
}

/** The access token from an OAuth 2.0 token response (RFC 6749 §5.1). */
export function readAccessToken (body: Record<string, unknown>, service: string, status: number): string {
  const token = checkToken(body.access_token, service, 'an access_token', status)
  const type = body.token_type
  if (type !== undefined && (typeof type !== 'string' || type.toLowerCase() !== 'bearer')) {
    throw new TokenRequestError('BAD_RESPONSE',
      `${service} answered token_type ${JSON.stringify(type)}; only Bearer tokens can be injected`,
      { status, error: 'unsupported_token_type' })
  }
  return token
}

/** OAuth-style error answer → TokenRequestError, `rejected` when the credential is refused. */
function oauthError (answer: IdpAnswer, service: string): TokenRequestError {
  const body = errorBody(answer)
  const error = clean(body?.error, 80)
  const description = clean(body?.error_description)
  const rejected = (answer.status === 400 || answer.status === 401) && error !== undefined && REJECTING.has(error)
  const what = error === undefined
    ? `${describeBody(answer)}`
    : `${error}${description ? `: ${description}` : ''}`
  return new TokenRequestError(rejected ? 'REJECTED' : 'SERVICE_ERROR', `${service} answered ${answer.status}: ${what}`,
    { status: answer.status, error, description })
}

/** A standard OAuth 2.0 token endpoint answer (Keycloak's shape). */
export function parseOAuthAnswer (answer: IdpAnswer, service: string): IssuedToken & { body: Record<string, unknown> } {
  if (answer.status < 200 || answer.status >= 300) throw oauthError(answer, service)
  const body = parseJson(answer)
  if (body === undefined) {
    throw new TokenRequestError('BAD_RESPONSE', `${service} answered ${answer.status} with ${describeBody(answer)}`,
      { status: answer.status, error: 'bad_response' })
  }
  return { accessToken: readAccessToken(body, service, answer.status), expiresIn: readExpiresIn(body.expires_in), body }
}
