// REGARDS rs-authentication: password grant, HTTP Basic client auth, tenant as ?scope=, JSON body (V2).
import type { Checker } from '../config/checker.js'
import { readTimeout, type Raw } from '../config/credential-schema.js'
import { Secret } from '../config/secrets.js'
import type { CredentialBase } from '../config/types.js'
import type { Credential, IssuedToken } from './credential.js'
import { idpDispatcher, postToIdp, type IdpAnswer } from './idp-http.js'
import type { IdentityService } from './service.js'
import { TokenRequestError } from './token-error.js'
import { clean, describeBody, errorBody, parseJson, readAccessToken, readExpiresIn } from './token-response.js'

interface RegardsCredential extends CredentialBase {
  type: 'regards'
  tenant: string
  client: { id: string, secret: Secret }
  username: string
  password: Secret
  /** `json` (REGARDS V2, 2024+) or `form` (V1 servers read query/form parameters). */
  format: 'json' | 'form'
}

function read (c: Checker, obj: Raw, path: string, name: string): RegardsCredential | undefined {
  const insecureHttp = c.bool(obj, 'insecureHttp', path, false)
  const url = c.url(c.string(obj, 'url', path, { required: true }), `${path}.url`, insecureHttp)
  const tenant = c.string(obj, 'tenant', path, { required: true })
  const client = c.object(obj.client, `${path}.client`, ['id', 'secret']) ?? {}
  // REGARDS ships with the client `client` / `secret`.
  const clientId = c.string(client, 'id', `${path}.client`, { default: 'client' })!
  const clientSecret = c.secret(client, 'secret', `${path}.client`, false) ?? new Secret('secret')
  const username = c.string(obj, 'username', path, { required: true })
  const password = c.secret(obj, 'password', path, true)
  const format = c.string(obj, 'format', path, { default: 'json', oneOf: ['json', 'form'] }) as RegardsCredential['format']
  const timeout = readTimeout(c, obj, path)
  if (url === undefined || tenant === undefined || username === undefined || password === undefined || timeout === undefined) {
    return undefined
  }
  return {
    type: 'regards',
    name,
    tokenUrl: `${url}/api/v1/rs-authentication/oauth/token`,
    timeout,
    insecureHttp,
    tenant,
    client: { id: clientId, secret: clientSecret },
    username,
    password,
    format,
  }
}

/** REGARDS errors: `{detailMessage, additionalInformation: {error: ACCOUNT_UNKNOWN}}` or Spring's `{error, message}`. */
function regardsError (answer: IdpAnswer): TokenRequestError {
  const body = errorBody(answer)
  const info = body?.additionalInformation as Record<string, unknown> | undefined
  const error = clean(info?.error, 80) ?? clean(body?.error, 80)
  const description = clean(body?.detailMessage) ?? clean(body?.message) ?? clean(body?.error_description)
  // 401: the client (Basic) or the tenant scope was refused; 400: the account or password was.
  const rejected = answer.status === 400 || answer.status === 401
  const what = error === undefined && description === undefined ? describeBody(answer) : [error, description].filter(Boolean).join(': ')
  return new TokenRequestError(rejected ? 'REJECTED' : 'SERVICE_ERROR', `REGARDS answered ${answer.status}: ${what}`,
    { status: answer.status, error, description })
}

export function regardsCredential (cfg: RegardsCredential): Credential {
  const url = `${cfg.tokenUrl}?scope=${encodeURIComponent(cfg.tenant)}`
  const http = idpDispatcher(cfg.ca, cfg.timeout)
  return {
    name: cfg.name,
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
      const answer = await postToIdp(url, headers, body, signal, http.dispatcher, [cfg.client.secret.reveal(), params.password])
      if (answer.status < 200 || answer.status >= 300) throw regardsError(answer)
      const json = parseJson(answer)
      if (json === undefined) {
        throw new TokenRequestError('BAD_RESPONSE', `REGARDS answered ${answer.status} with ${describeBody(answer)}`,
          { status: answer.status, error: 'bad_response' })
      }
      return { accessToken: readAccessToken(json, 'REGARDS', answer.status), expiresIn: readExpiresIn(json.expires_in) }
    },
    async close (): Promise<void> {
      await http.close()
    },
  }
}

export const regardsService: IdentityService<RegardsCredential> = {
  type: 'regards',
  keys: ['url', 'tenant', 'client', 'username', 'password', 'format'],
  read,
  describe: (c) => [`${c.type} password grant (${c.format} body)`, `tenant ${c.tenant}`,
    `client ${c.client.id} (secret ${c.client.secret.describe()})`, `user ${c.username} (password ${c.password.describe()})`].join(', '),
  identity: (c) => ({ clientId: c.client.id, username: c.username, tenant: c.tenant }),
  hints: [
    {
      match: (i) => i.status === 401,
      fix: '`client` is REGARDS\' OAuth client (default `client`/`secret`); `tenant` is the project name, sent as `scope`',
    },
    {
      match: (i) => i.status === 400,
      fix: 'check the user\'s access to that project; a V1 server (before 2024) also needs `format: form`',
    },
  ],
  create: (cfg) => regardsCredential(cfg),
}
