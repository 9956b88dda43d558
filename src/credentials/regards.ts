// REGARDS rs-authentication: password grant, HTTP Basic client auth, tenant as ?scope=, JSON body (V2).
import type { RegardsCredential } from '../config/types.js'
import type { Credential, IssuedToken } from './credential.js'
import { idpDispatcher, postToIdp, type IdpAnswer } from './idp-http.js'
import { TokenRequestError } from './token-error.js'
import { clean, describeBody, errorBody, parseJson, readAccessToken, readExpiresIn } from './token-response.js'

/** REGARDS errors: `{detailMessage, additionalInformation: {error: ACCOUNT_UNKNOWN}}` or Spring's `{error, message}`. */
function regardsError (answer: IdpAnswer): TokenRequestError {
  const body = errorBody(answer)
  const info = body?.additionalInformation as Record<string, unknown> | undefined
  const error = clean(info?.error, 80) ?? clean(body?.error, 80)
  const description = clean(body?.detailMessage) ?? clean(body?.message) ?? clean(body?.error_description)
  // 401: the client (Basic) or the tenant scope was refused; 400: the account or password was.
  const rejected = answer.status === 400 || answer.status === 401
  const what = error === undefined && description === undefined ? describeBody(answer) : [error, description].filter(Boolean).join(': ')
  return new TokenRequestError(rejected ? 'REJECTED' : 'SERVICE_ERROR', `REGARDS answered ${answer.status}: ${what}`, { status: answer.status, error, description })
}

export function regardsCredential (cfg: RegardsCredential): Credential {
  const url = `${cfg.tokenUrl}?scope=${encodeURIComponent(cfg.tenant)}`
  const dispatcher = idpDispatcher(cfg.ca, cfg.timeout)
  return {
    name: cfg.name,
    type: cfg.type,
    tokenUrl: cfg.tokenUrl,
    async fetchToken (signal: AbortSignal): Promise<IssuedToken> {
      // REGARDS' Spring filter does not form-decode Basic credentials: plain base64 of id:secret.
      const headers: Record<string, string> = {
        authorization: `Basic ${Buffer.from(`${cfg.client.id}:${cfg.client.secret.reveal()}`).toString('base64')}`,
        accept: 'application/json',
      }
      const params = { username: cfg.username, password: cfg.password.reveal(), grant_type: 'password', scope: cfg.tenant }
      let body: string
      if (cfg.format === 'form') {
        headers['content-type'] = 'application/x-www-form-urlencoded'
        body = new URLSearchParams(params).toString()
      } else {
        headers['content-type'] = 'application/json'
        body = JSON.stringify(params)
      }
      const answer = await postToIdp(url, headers, body, signal, dispatcher, [cfg.client.secret.reveal(), params.password])
      if (answer.status < 200 || answer.status >= 300) throw regardsError(answer)
      const json = parseJson(answer)
      if (json === undefined) {
        throw new TokenRequestError('BAD_RESPONSE', `REGARDS answered ${answer.status} with ${describeBody(answer)}`, { status: answer.status, error: 'bad_response' })
      }
      return { accessToken: readAccessToken(json, 'REGARDS', answer.status), expiresIn: readExpiresIn(json.expires_in) }
    },
  }
}
