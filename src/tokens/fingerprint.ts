// How a token appears wherever tokenproxy shows one: never itself, only a fingerprint.
import { createHash } from 'node:crypto'

/** First 8 hex of the token's SHA-256: enough to correlate, useless to an attacker. */
export function fingerprint (token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 8)
}
