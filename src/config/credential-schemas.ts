// Per-type validation of `credentials.NAME` entries: one function per identity service.
import { createPrivateKey } from 'node:crypto'
import { ASSERTION_ALGS, keyTypeFor } from '../credentials/client-auth.js'
import type { Checker } from './checker.js'
import { Secret } from './secrets.js'
import type { ClientAuth, CredentialConfig, KeycloakCredential, RegardsCredential, WaltidWalletCredential } from './types.js'

type Raw = Record<string, unknown>

const COMMON = ['type', 'timeout', 'insecureHttp'] as const

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
    if (want !== undefined && have !== want) c.add(`${path}.privateKey`, `is a ${type} key, but alg ${alg} needs ${want === 'ec' ? 'an EC' : 'an RSA'} key`)
  } catch {
    c.add(`${path}.privateKey`, 'is not a PEM private key (PKCS#8 or PKCS#1)')
  }
}

/** Form parameters tokenproxy sets itself on a Keycloak token request; `params` may not override them. */
const KEYCLOAK_OWN_PARAMS = ['grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'username', 'password', 'refresh_token', 'scope']

function keycloak (c: Checker, obj: Raw, path: string, name: string): KeycloakCredential | undefined {
  const insecureHttp = c.bool(obj, 'insecureHttp', path, false)
  const tokenUrl = keycloakTokenUrl(c, obj, path, insecureHttp)
  const grant = c.string(obj, 'grant', path, { default: 'client_credentials', oneOf: ['client_credentials', 'password'] }) as KeycloakCredential['grant']
  const clientAuth = c.string(obj, 'clientAuth', path, { default: 'client_secret_post', oneOf: ['client_secret_post', 'client_secret_basic', 'private_key_jwt'] }) as ClientAuth
  const clientId = c.string(obj, 'clientId', path, { required: true })
  const signed = clientAuth === 'private_key_jwt'
  // A public client (password grant, client_secret_post) has no secret.
  const clientSecret = c.secret(obj, 'clientSecret', path, !signed && !(grant === 'password' && clientAuth === 'client_secret_post'))
  if (signed && obj.clientSecret !== undefined) c.add(`${path}.clientSecret`, 'is not used with clientAuth: private_key_jwt')
  const privateKey = c.secret(obj, 'privateKey', path, signed)
  const alg = c.string(obj, 'alg', path, { default: 'RS256', oneOf: ASSERTION_ALGS })!
  const keyId = c.string(obj, 'keyId', path)
  if (!signed) {
    for (const key of ['privateKey', 'keyId', 'alg']) if (obj[key] !== undefined) c.add(`${path}.${key}`, 'is only used with clientAuth: private_key_jwt')
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
  const timeout = c.number(obj, 'timeout', path, { default: 10, above: 0, max: 300 })
  if (tokenUrl === undefined || clientId === undefined || timeout === undefined) return undefined
  return {
    type: 'keycloak', name, tokenUrl, timeout, insecureHttp, grant, clientAuth, clientId, clientSecret, scope,
    ...(params === undefined ? {} : { params }),
    ...(password ? { username, password: userPassword } : {}),
    ...(signed ? { privateKey, keyId, alg } : {}),
  }
}

function regards (c: Checker, obj: Raw, path: string, name: string): RegardsCredential | undefined {
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
  const timeout = c.number(obj, 'timeout', path, { default: 10, above: 0, max: 300 })
  if (url === undefined || tenant === undefined || username === undefined || password === undefined || timeout === undefined) return undefined
  return {
    type: 'regards', name, tokenUrl: `${url}/api/v1/rs-authentication/oauth/token`, timeout, insecureHttp,
    tenant, client: { id: clientId, secret: clientSecret }, username, password, format,
  }
}

function waltidWallet (c: Checker, obj: Raw, path: string, name: string): WaltidWalletCredential | undefined {
  const insecureHttp = c.bool(obj, 'insecureHttp', path, false)
  const url = c.url(c.string(obj, 'url', path, { required: true }), `${path}.url`, insecureHttp)
  const keycloak = c.string(obj, 'keycloak', path)
  const username = c.string(obj, 'username', path, { required: keycloak === undefined })
  const password = c.secret(obj, 'password', path, keycloak === undefined)
  if (keycloak !== undefined && obj.password !== undefined) c.add(path, 'give either password or keycloak (a credential whose token logs in), not both')
  const timeout = c.number(obj, 'timeout', path, { default: 10, above: 0, max: 300 })
  if (url === undefined || timeout === undefined || (keycloak === undefined && (username === undefined || password === undefined))) return undefined
  return {
    type: 'waltid-wallet', name, tokenUrl: `${url}/wallet-api/auth/keycloak/login`, timeout, insecureHttp, url, username,
    ...(keycloak === undefined ? { password } : { keycloak }),
  }
}

const SCHEMAS: Record<string, { keys: readonly string[], read: (c: Checker, obj: Raw, path: string, name: string) => CredentialConfig | undefined }> = {
  keycloak: {
    keys: [...COMMON, 'url', 'realm', 'tokenUrl', 'grant', 'clientId', 'clientSecret', 'clientAuth', 'scope', 'params', 'username', 'password', 'privateKey', 'keyId', 'alg'],
    read: keycloak,
  },
  regards: {
    keys: [...COMMON, 'url', 'tenant', 'client', 'username', 'password', 'format'],
    read: regards,
  },
  'waltid-wallet': {
    keys: [...COMMON, 'url', 'username', 'password', 'keycloak'],
    read: waltidWallet,
  },
}

/** Cross-references between credentials: a wallet's `keycloak` must name a keycloak credential. */
export function checkCredentialLinks (c: Checker, credentials: Record<string, CredentialConfig>, names: string[]): void {
  for (const cred of Object.values(credentials)) {
    if (cred.type !== 'waltid-wallet' || cred.keycloak === undefined) continue
    const target = credentials[cred.keycloak]
    const path = `credentials.${cred.name}.keycloak`
    if (!names.includes(cred.keycloak)) c.add(path, `${JSON.stringify(cred.keycloak)} is not a defined credential (defined: ${names.join(', ')})`)
    else if (target !== undefined && target.type !== 'keycloak') c.add(path, `${JSON.stringify(cred.keycloak)} is a ${target.type} credential; the wallet logs in with a keycloak one`)
  }
}

export const CREDENTIAL_TYPES = Object.keys(SCHEMAS)

export function readCredential (c: Checker, raw: unknown, path: string, name: string): CredentialConfig | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    c.add(path, 'must be a mapping')
    return undefined
  }
  const type = (raw as Raw).type
  const schema = typeof type === 'string' ? SCHEMAS[type] : undefined
  if (schema === undefined) {
    c.add(`${path}.type`, type === undefined ? `is required (one of ${CREDENTIAL_TYPES.join(', ')})` : `${JSON.stringify(type)} is not one of ${CREDENTIAL_TYPES.join(', ')}`)
    return undefined
  }
  // Every type takes `ca` (a private CA for the identity service's TLS).
  const obj = c.object(raw, path, [...schema.keys, 'ca'])
  if (obj === undefined) return undefined
  const cred = schema.read(c, obj, path, name)
  const ca = c.ca(obj, 'ca', path)
  return cred === undefined || ca === undefined ? cred : { ...cred, ca }
}
