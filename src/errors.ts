// Coded errors with a stable `code` and HTTP status, rendered as RFC 9457 problem+json.

export const ERROR_CODES = {
  TOKEN_UNAVAILABLE: { status: 503, title: 'No usable access token for this upstream' },
  UPSTREAM_UNREACHABLE: { status: 502, title: 'The upstream could not be reached' },
  UPSTREAM_TIMEOUT: { status: 504, title: 'The upstream did not answer in time' },
  NO_ROUTE: { status: 404, title: 'No upstream is configured for this path' },
  BAD_REQUEST: { status: 400, title: 'The request was refused' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  SHUTTING_DOWN: { status: 503, title: 'tokenproxy is shutting down' },
  HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  INTERNAL_ERROR: { status: 500, title: 'tokenproxy failed to handle the request' },
} as const

export type ErrorCode = keyof typeof ERROR_CODES

/** Extra members of a problem document; never a token or a secret. */
export interface ProblemExtras {
  credential?: string
  upstream?: string
  error?: string
  error_description?: string
}

export class ProxyError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly extras: ProblemExtras
  /** Seconds for a Retry-After header, when the client may usefully retry. */
  readonly retryAfter: number | undefined

  constructor (code: ErrorCode, detail: string, extras: ProblemExtras = {}, options: { cause?: unknown, retryAfter?: number } = {}) {
    super(detail, { cause: options.cause })
    this.name = 'ProxyError'
    this.code = code
    this.status = ERROR_CODES[code].status
    this.extras = extras
    this.retryAfter = options.retryAfter
  }

  toProblem (instance?: string): Record<string, unknown> {
    return {
      type: `urn:tokenproxy:error:${this.code.toLowerCase().replaceAll('_', '-')}`,
      title: ERROR_CODES[this.code].title,
      status: this.status,
      code: this.code,
      detail: this.message,
      ...(instance === undefined ? {} : { instance }),
      ...this.extras,
    }
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'
