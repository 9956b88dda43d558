// `tokenproxy token NAME`: fetch one token and show its decoded header and claims, or only the token.
import { decodeJwt, decodeProtectedHeader } from 'jose'
import type { Config, CredentialConfig } from '../configuration.js'
import type { Credential, CredentialDeps, IssuedToken } from '../credentials/credential.js'
import { withDeadline } from '../credentials/deadline.js'
import { createCredential } from '../credentials/registry.js'
import { toTokenError } from '../credentials/token-error.js'
import { fingerprint } from '../tokens/fingerprint.js'
import { hintFor } from './token-hints.js'
import { UsageError } from './usage.js'

interface TokenReport { raw: string, text: string }

/** Runs `use` with a credential made for `cfg`, and closes it however that ends. */
async function withCredential<T> (cfg: CredentialConfig, deps: CredentialDeps, use: (credential: Credential) => Promise<T>): Promise<T> {
  const credential = createCredential(cfg, deps)
  try {
    return await use(credential)
  } finally {
    await credential.close()
  }
}

const fetchOnce = async (credential: Credential, timeoutS: number): Promise<IssuedToken> =>
  await withDeadline(timeoutS * 1000, async (signal) => await credential.fetchToken(signal))

/** A failed token request, told as: which credential, which URL, what happened, what to check. */
class TokenCommandError extends Error {}

function failure (cfg: CredentialConfig, tokenUrl: string, thrown: unknown): TokenCommandError {
  const err = toTokenError(thrown)
  const what = err.code === 'TIMEOUT' ? `no answer within ${cfg.timeout}s (credentials.${cfg.name}.timeout)` : err.message
  const hint = hintFor(cfg, err.info)
  const check = hint === undefined ? '' : `\n  what to check: ${hint}`
  return new TokenCommandError(`credential "${cfg.name}": token request to ${tokenUrl} failed: ${what}${check}`)
}

export async function inspectToken (config: Config, name: string, now: () => number = Date.now): Promise<TokenReport> {
  const cfg = config.credentials[name]
  if (cfg === undefined) {
    throw new UsageError(`"${name}" is not a defined credential (defined: ${Object.keys(config.credentials).join(', ')})`, 'token')
  }
  // A chained credential gets its Keycloak token directly, without a token manager.
  const deps: CredentialDeps = {
    tokenFor: async (other: string): Promise<string> => {
      const c = config.credentials[other]!
      return await withCredential(c, deps, async (credential) => (await fetchOnce(credential, c.timeout)).accessToken)
    },
  }
  const { issued, tokenUrl } = await withCredential(cfg, deps, async (credential) => {
    try {
      return { issued: await fetchOnce(credential, cfg.timeout), tokenUrl: credential.tokenUrl }
    } catch (err) {
      throw failure(cfg, credential.tokenUrl, err)
    }
  })
  const receivedAt = now()
  const lines = [`credential ${name} (${cfg.type}) from ${tokenUrl}`, `fingerprint ${fingerprint(issued.accessToken)}`]
  if (issued.expiresIn !== undefined) lines.push(`expires_in ${issued.expiresIn}s`)
  try {
    const header = decodeProtectedHeader(issued.accessToken)
    const claims = decodeJwt(issued.accessToken)
    lines.push(`header ${JSON.stringify(header, null, 2)}`, `claims ${JSON.stringify(claims, null, 2)}`)
    if (typeof claims.exp === 'number') {
      lines.push(`exp ${new Date(claims.exp * 1000).toISOString()} (${Math.round(claims.exp - receivedAt / 1000)}s left)`)
    }
    if (typeof claims.iat === 'number') lines.push(`iat ${new Date(claims.iat * 1000).toISOString()}`)
  } catch {
    lines.push('the token is opaque (not a JWT): no header or claims to show')
  }
  return { raw: issued.accessToken, text: lines.join('\n') }
}
