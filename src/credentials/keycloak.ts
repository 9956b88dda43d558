// Keycloak: OAuth 2.0 token endpoint, form-encoded body, client_secret_post or client_secret_basic.
import type { KeycloakCredential } from '../config/types.js'
import type { Credential, IssuedToken } from './credential.js'
import { basicAuth, postToIdp } from './idp-http.js'
import { parseOAuthAnswer } from './token-response.js'

export function keycloakCredential (cfg: KeycloakCredential): Credential {
  return {
    name: cfg.name,
    type: cfg.type,
    tokenUrl: cfg.tokenUrl,
    async fetchToken (signal: AbortSignal): Promise<IssuedToken> {
      const form = new URLSearchParams({ grant_type: cfg.grant })
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      }
      const secret = cfg.clientSecret?.reveal() ?? ''
      if (cfg.clientAuth === 'client_secret_basic') {
        headers.authorization = basicAuth(cfg.clientId, secret)
      } else {
        form.set('client_id', cfg.clientId)
        form.set('client_secret', secret)
      }
      if (cfg.scope !== undefined) form.set('scope', cfg.scope)
      const answer = await postToIdp(cfg.tokenUrl, headers, form.toString(), signal)
      const { accessToken, expiresIn } = parseOAuthAnswer(answer, 'Keycloak')
      return { accessToken, expiresIn }
    },
  }
}
