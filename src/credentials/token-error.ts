// The error a credential raises when the identity service does not hand out a token.

/** `rejected`: the service refused the credential itself; retrying soon will not help. */
export type TokenOutcome = 'rejected' | 'error'

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
  readonly info: TokenErrorInfo

  constructor (message: string, info: TokenErrorInfo, options: { cause?: unknown } = {}) {
    super(message, options)
    this.name = 'TokenRequestError'
    this.info = info
  }

  get outcome (): TokenOutcome { return this.info.outcome }
}

/** Turns anything thrown while fetching a token into a TokenRequestError. */
export function toTokenError (err: unknown): TokenRequestError {
  if (err instanceof TokenRequestError) return err
  const e = err as { name?: string, code?: string, message?: string }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new TokenRequestError('token request timed out', { outcome: 'error', error: 'timeout' }, { cause: err })
  }
  const code = e?.code ?? (err as { cause?: { code?: string } })?.cause?.code
  const what = code === undefined ? (e?.message ?? String(err)) : `${code}${e?.message ? ` (${e.message})` : ''}`
  return new TokenRequestError(`identity service unreachable: ${what}`, { outcome: 'error', error: code ?? 'network' }, { cause: err })
}
