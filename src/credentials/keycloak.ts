// Keycloak: OAuth 2.0 token endpoint, form-encoded body; client_credentials, or password with refresh.
import { createPrivateKey } from 'node:crypto'
import type { Checker } from '../config/checker.js'
import { readTimeout, type Raw } from '../config/credential-schema.js'
import type { Secret } from '../config/secrets.js'
import type { CredentialBase } from '../config/types.js'
import { ASSERTION_ALGS, applyClientAuth, keyTypeFor } from './client-auth.js'
import type { Credential, IssuedToken } from './credential.js'
import { idpDispatcher, postToIdp } from './idp-http.js'
import type { IdentityService } from './service.js'
import { TokenRequestError } from './token-error.js'
import { parseOAuthAnswer, readExpiresIn } from './token-response.js'

type ClientAuth = 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt'

export interface KeycloakCredential extends CredentialBase {
  type: 'keycloak'
  grant: 'client_credentials' | 'password'
  clientId: string
  clientSecret?: Secret
  clientAuth: ClientAuth
  username?: string
  password?: Secret
  scope?: string
  /** Extra form parameters for every token request (audience, resource, ...). */
  params?: Record<string, string>
  privateKey?: Secret
  keyId?: string
  alg?: string
}

/** Token URL from `tokenUrl`, or Keycloak's `{url}/realms/{realm}/protocol/openid-connect/token`. */
function keycloakTokenUrl (c: Checker, obj: Raw, path: string, insecure: boolean): string | undefined {
  const tokenUrl = c.string(obj, 'tokenUrl', path)
  const url = c.string(obj, 'url', path)
  const realm = c.string(obj, 'realm', path)
  if (tokenUrl !== undefined) {
    if (url !== undefined || realm !== undefined) c.add(path, 'give either tokenUrl or url + realm, not both')
    return c.url(tokenUrl, `${path}.tokenUrl`, insecure)
  }
  if (url === undefined || realm === undefined) {
    // An unset ${VAR} in url or realm is reported there already.
    if (!c.unset(`${path}.url`) && !c.unset(`${path}.realm`)) c.add(path, 'needs url + realm (or tokenUrl)')
    return undefined
  }
  if (!/^[^/?#\s]+$/.test(realm)) c.add(`${path}.realm`, `${JSON.stringify(realm)} is not a realm name`)
  const root = c.url(url, `${path}.url`, insecure)
  return root === undefined ? undefined : `${root}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`
}

/** A PEM private key usable with `alg`, checked now so a bad key fails at start, not at first fetch. */
function checkPrivateKey (c: Checker, key: Secret | undefined, alg: string, path: string): void {
  if (key === undefined) return
  const want = keyTypeFor(alg)
  try {
    const type = createPrivateKey(key.reveal()).asymmetricKeyType
    const have = type === 'rsa' || type === 'rsa-pss' ? 'rsa' : type
    if (want !== undefined && have !== want) {
      c.add(`${path}.privateKey`, `is a ${type} key, but alg ${alg} needs ${want === 'ec' ? 'an EC' : 'an RSA'} key`)
    }
  } catch {
    c.add(`${path}.privateKey`, 'is not a PEM private key (PKCS#8 or PKCS#1)')
  }
}

/** Form parameters tokenproxy sets itself on a Keycloak token request; `params` may not override them. */
const KEYCLOAK_OWN_PARAMS = ['grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'username',
  'password', 'refresh_token', 'scope']

function read (c: Checker, obj: Raw, path: string, name: string): KeycloakCredential | undefined {
  const insecureHttp = c.bool(obj, 'insecureHttp', path, false)
  const tokenUrl = keycloakTokenUrl(c, obj, path, insecureHttp)
  const grant = c.string(obj, 'grant', path,
    { default: 'client_credentials', oneOf: ['client_credentials', 'password'] }) as KeycloakCredential['grant']
  const clientAuth = c.string(obj, 'clientAuth', path,
    { default: 'client_secret_post', oneOf: ['client_secret_post', 'client_secret_basic', 'private_key_jwt'] }) as ClientAuth
  const clientId = c.string(obj, 'clientId', path, { required: true })
  const signed = clientAuth === 'private_key_jwt'
  // A public client (password grant, client_secret_post) has no secret.
  const clientSecret = c.secret(obj, 'clientSecret', path, !signed && !(grant === 'password' && clientAuth === 'client_secret_post'))
  if (signed && obj.clientSecret !== undefined) c.add(`${path}.clientSecret`, 'is not used with clientAuth: private_key_jwt')
  const privateKey = c.secret(obj, 'privateKey', path, signed)
  const alg = c.string(obj, 'alg', path, { default: 'RS256', oneOf: ASSERTION_ALGS })!
  const keyId = c.string(obj, 'keyId', path)
  if (!signed) {
    for (const key of ['privateKey', 'keyId', 'alg']) {
      if (obj[key] !== undefined) c.add(`${path}.${key}`, 'is only used with clientAuth: private_key_jwt')
    }
  }
  checkPrivateKey(c, privateKey, alg, path)
  const password = grant === 'password'
  const username = c.string(obj, 'username', path, { required: password })
  const userPassword = c.secret(obj, 'password', path, password)
  if (!password) {
    for (const key of ['username', 'password']) if (obj[key] !== undefined) c.add(`${path}.${key}`, 'is only used with grant: password')
  }
  const scope = c.string(obj, 'scope', path)
  const params = c.stringMap(obj, 'params', path, KEYCLOAK_OWN_PARAMS)
  const timeout = readTimeout(c, obj, path)
  if (tokenUrl === undefined || clientId === undefined || timeout === undefined) return undefined
  return {
    type: 'keycloak',
    name,
    tokenUrl,
    timeout,
    insecureHttp,
    grant,
    clientAuth,
    clientId,
    clientSecret,
    scope,
    ...(params === undefined ? {} : { params }),
    ...(password ? { username, password: userPassword } : {}),
    ...(signed ? { privateKey, keyId, alg } : {}),
  }
}

function describe (c: KeycloakCredential): string {
  const auth = c.clientAuth === 'private_key_jwt' ? `key ${c.privateKey?.describe()}` : `secret ${c.clientSecret?.describe() ?? 'none'}`
  const parts = [`${c.type} ${c.grant}`, `client ${c.clientId} (${c.clientAuth}, ${auth})`]
  if (c.username !== undefined) parts.push(`user ${c.username} (password ${c.password?.describe()})`)
  if (c.scope !== undefined) parts.push(`scope "${c.scope}"`)
  if (c.params !== undefined) parts.push(`params ${Object.entries(c.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`)
  return parts.join(', ')
}

/** Refresh a little before Keycloak's refresh_expires_in runs out, not at the last second. */
const REFRESH_MARGIN_MS = 5000

interface RefreshState { token: string, expiresAt: number }

function keycloakCredential (cfg: KeycloakCredential, now: () => number = Date.now): Credential {
  let refresh: RefreshState | undefined
  const http = idpDispatcher(cfg.ca, cfg.timeout)

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
    const secrets = [cfg.clientSecret?.reveal(),
      ...['client_secret', 'client_assertion', 'password', 'refresh_token'].map((k) => form.get(k) ?? undefined)]
    const answer = await postToIdp(cfg.tokenUrl, headers, form.toString(), signal, http.dispatcher, secrets)
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
    async close (): Promise<void> {
      await http.close()
    },
  }
}

/** True when the service's description mentions `text` (any case). */
function said (description: string | undefined, text: string): boolean {
  return (description ?? '').toLowerCase().includes(text)
}

export const keycloakService: IdentityService<KeycloakCredential> = {
  type: 'keycloak',
  keys: ['url', 'realm', 'tokenUrl', 'grant', 'clientId', 'clientSecret', 'clientAuth', 'scope', 'params', 'username', 'password',
    'privateKey', 'keyId', 'alg'],
  read,
  describe,
  // `params` select the token too (an audience, a resource); whatever their order, the same identity.
  identity: (c) => ({ clientId: c.clientId, username: c.username, scope: c.scope, params: c.params }),
  hints: [
    {
      match: (i) => i.error === 'unauthorized_client' && said(i.description, 'service account'),
      fix: 'client settings: Client authentication on, Service account roles on',
    },
    {
      match: (i) => i.error === 'unauthorized_client' && said(i.description, 'direct access grants'),
      fix: 'client settings: Direct access grants on',
    },
    {
      match: (i) => i.error === 'unauthorized_client' && i.status === 401,
      fix: 'copy the secret from the client\'s Credentials tab; in a `{ file }`, only one trailing newline is trimmed',
    },
    {
      match: (i) => i.error === 'invalid_client' || i.error === 'unauthorized_client',
      fix: 'check the client id and that the client is enabled',
    },
    { match: (i) => i.status === 404 && i.error === 'Realm does not exist', fix: 'the realm name as in the admin console\'s realm list' },
    { match: (i) => i.status === 404, fix: 'compare with the `iss` of a token Keycloak issued' },
    { match: (i) => i.error === 'invalid_grant', fix: 'log in once as the user, or clear the required actions' },
  ],
  create: (cfg) => keycloakCredential(cfg),
}
