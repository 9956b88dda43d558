// Keycloak: OAuth 2.0 token endpoint, form-encoded body; client_credentials, or password with refresh.
import type { KeycloakCredential } from '../config/types.js'
import { applyClientAuth } from './client-auth.js'
import type { Credential, IssuedToken } from './credential.js'
import { idpDispatcher, postToIdp } from './idp-http.js'
import { TokenRequestError } from './token-error.js'
import { parseOAuthAnswer, readExpiresIn } from './token-response.js'

/** Refresh a little before Keycloak's refresh_expires_in runs out, not at the last second. */
const REFRESH_MARGIN_MS = 5000

interface RefreshState { token: string, expiresAt: number }

export function keycloakCredential (cfg: KeycloakCredential, now: () => number = Date.now): Credential {
  let refresh: RefreshState | undefined
  const dispatcher = idpDispatcher(cfg.ca, cfg.timeout)

  async function tokenRequest (params: Record<string, string>, signal: AbortSignal): Promise<IssuedToken> {
    const form = new URLSearchParams(params)
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    }
    await applyClientAuth(cfg, form, headers)
    // `params` (audience, resource, ...) go with every grant: a refreshed token must be the same kind.
    for (const [name, value] of Object.entries(cfg.params ?? {})) form.set(name, value)
    if (cfg.scope !== undefined) form.set('scope', cfg.scope)
    // Every secret the request carries: client secret (form or Basic), assertion, password, refresh token.
    const secrets = [cfg.clientSecret?.reveal(), ...['client_secret', 'client_assertion', 'password', 'refresh_token'].map((k) => form.get(k) ?? undefined)]
    const answer = await postToIdp(cfg.tokenUrl, headers, form.toString(), signal, dispatcher, secrets)
    const { accessToken, expiresIn, body } = parseOAuthAnswer(answer, 'Keycloak')
    // Password grant: keep the refresh token while refresh_expires_in allows (0: no stated limit).
    if (typeof body.refresh_token === 'string' && body.refresh_token !== '') {
      const life = readExpiresIn(body.refresh_expires_in)
      refresh = { token: body.refresh_token, expiresAt: life === undefined || life <= 0 ? Infinity : now() + life * 1000 }
    } else {
      refresh = undefined
    }
    return { accessToken, expiresIn }
  }

  function login (signal: AbortSignal): Promise<IssuedToken> {
    if (cfg.grant === 'password') {
      return tokenRequest({ grant_type: 'password', username: cfg.username!, password: cfg.password!.reveal() }, signal)
    }
    return tokenRequest({ grant_type: 'client_credentials' }, signal)
  }

  return {
    name: cfg.name,
    type: cfg.type,
    tokenUrl: cfg.tokenUrl,
    async fetchToken (signal: AbortSignal): Promise<IssuedToken> {
      const r = refresh
      if (r === undefined || now() >= r.expiresAt - REFRESH_MARGIN_MS) return await login(signal)
      try {
        return await tokenRequest({ grant_type: 'refresh_token', refresh_token: r.token }, signal)
      } catch (err) {
        // "Token is not active", "Session not active": the session is gone, log in again.
        if (err instanceof TokenRequestError && err.info.error === 'invalid_grant') {
          refresh = undefined
          return await login(signal)
        }
        throw err
      }
    },
  }
}
