// The error a credential raises when the identity service does not hand out a token.

/** `rejected`: the service refused the credential itself; retrying soon will not help. */
export type TokenOutcome = 'rejected' | 'error'

/** What tokenproxy made of a failed token request (`info.error` keeps what the service itself said). */
export type TokenErrorCode =
  /** The service refused the credential itself (a refused client, grant or login): the only `rejected` outcome. */
  | 'REJECTED'
  /** The service answered with an error that is not about the credential (a 5xx, an unknown realm, ...). */
  | 'SERVICE_ERROR'
  /** A success status without a usable token: not JSON, no token, a token unfit for a header, not a Bearer token. */
  | 'BAD_RESPONSE'
  /** No answer within the credential's timeout. */
  | 'TIMEOUT'
  /** No connection, or the connection failed (refused, reset, no such host, ...). */
  | 'UNREACHABLE'
  /** The service's TLS certificate is not trusted. */
  | 'TLS_UNTRUSTED'
  /** The service's own rate limit (429). */
  | 'RATE_LIMITED'
  /** tokenproxy's own limit on logins kept it from asking (the wallet's logins per minute). */
  | 'LOGIN_RATE_LIMITED'
  /** The credential whose token this one logs in with has none (a chained wallet login). */
  | 'DEPENDENCY_UNAVAILABLE'
  /** The token came with refresh.minValidity or less left. */
  | 'EXPIRED_ON_ARRIVAL'
  /** Another replica held the shared cache's lock for the whole timeout without storing a token. */
  | 'CACHE_WAIT_TIMEOUT'

export interface TokenErrorInfo {
  outcome: TokenOutcome
  /** HTTP status of the identity service's answer, when there was one. */
  status?: number
  /** OAuth `error`, or the service's own error code (REGARDS' ACCOUNT_UNKNOWN, ...). */
  error?: string
  /** OAuth `error_description` or the service's message, cut to a sane length. */
  description?: string
}

export class TokenRequestError extends Error {
  readonly code: TokenErrorCode
  /** What /readyz and the logs show: the outcome (from `code`) and what the service said. */
  readonly info: TokenErrorInfo

  constructor (code: TokenErrorCode, message: string, info: Omit<TokenErrorInfo, 'outcome'> = {}, options: { cause?: unknown } = {}) {
    super(message, options)
    this.name = 'TokenRequestError'
    this.code = code
    this.info = { outcome: code === 'REJECTED' ? 'rejected' : 'error', ...info }
  }

  get outcome (): TokenOutcome { return this.info.outcome }
}

/** Turns anything thrown while fetching a token into a TokenRequestError. */
export function toTokenError (err: unknown): TokenRequestError {
  if (err instanceof TokenRequestError) return err
  const e = err as { name?: string, code?: string, message?: string }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new TokenRequestError('TIMEOUT', 'token request timed out', { error: 'timeout' }, { cause: err })
  }
  const code = e?.code ?? (err as { cause?: { code?: string } })?.cause?.code
  const what = code === undefined ? (e?.message ?? String(err)) : `${code}${e?.message ? ` (${e.message})` : ''}`
  return new TokenRequestError('UNREACHABLE', `identity service unreachable: ${what}`, { error: code ?? 'network' }, { cause: err })
}
