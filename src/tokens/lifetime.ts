// A token's expiry: the earlier of expires_in (local clock at receipt) and the JWT `exp` claim.
import { decodeJwt } from 'jose'
import { MAX_LIFETIME_S } from '../credentials/token-response.js'
import { fingerprint } from './fingerprint.js'

/** Used when a token is not a JWT and the service gave no expires_in. */
export const DEFAULT_LIFETIME_S = 60

export interface TokenInfo {
  token: string
  fingerprint: string
  receivedAt: number
  expiresAt: number
  /** Where the expiry came from, for logs. */
  expirySource: 'expires_in' | 'exp' | 'default'
  /** Claims worth logging (never the token): exp, azp, jti, iss, sub. */
  claims: { exp?: number, azp?: string, jti?: string, iss?: string, sub?: string }
}

function jwtClaims (token: string): TokenInfo['claims'] | undefined {
  try {
    const c = decodeJwt(token)
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
    return {
      exp: typeof c.exp === 'number' && Number.isFinite(c.exp) ? c.exp : undefined,
      azp: str(c.azp),
      jti: str(c.jti),
      iss: str(c.iss),
      sub: str(c.sub),
    }
  } catch {
    return undefined
  }
}

export function describeToken (token: string, expiresIn: number | undefined, receivedAt: number): TokenInfo {
  const claims = jwtClaims(token) ?? {}
  const fromExpiresIn = expiresIn === undefined ? undefined : receivedAt + expiresIn * 1000
  // An exp far in the future gets the same one-year cap as expires_in.
  const fromExp = claims.exp === undefined ? undefined : Math.min(claims.exp * 1000, receivedAt + MAX_LIFETIME_S * 1000)
  let expiresAt: number
  let expirySource: TokenInfo['expirySource']
  if (fromExpiresIn !== undefined && (fromExp === undefined || fromExpiresIn <= fromExp)) {
    expiresAt = fromExpiresIn
    expirySource = 'expires_in'
  } else if (fromExp !== undefined) {
    expiresAt = fromExp
    expirySource = 'exp'
  } else {
    expiresAt = receivedAt + DEFAULT_LIFETIME_S * 1000
    expirySource = 'default'
  }
  return { token, fingerprint: fingerprint(token), receivedAt, expiresAt, expirySource, claims }
}
