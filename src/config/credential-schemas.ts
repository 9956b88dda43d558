// Per-type validation of `credentials.NAME` entries: one function per identity service.
import type { Checker } from './checker.js'
import type { CredentialConfig, KeycloakCredential } from './types.js'

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
    c.add(path, 'needs url + realm (or tokenUrl)')
    return undefined
  }
  if (!/^[^/?#\s]+$/.test(realm)) c.add(`${path}.realm`, `${JSON.stringify(realm)} is not a realm name`)
  const root = c.url(url, `${path}.url`, insecure)
  return root === undefined ? undefined : `${root}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`
}

function keycloak (c: Checker, obj: Raw, path: string, name: string): KeycloakCredential | undefined {
  const insecureHttp = c.bool(obj, 'insecureHttp', path, false)
  const tokenUrl = keycloakTokenUrl(c, obj, path, insecureHttp)
  const grant = c.string(obj, 'grant', path, { default: 'client_credentials', oneOf: ['client_credentials'] })
  const clientAuth = c.string(obj, 'clientAuth', path, { default: 'client_secret_post', oneOf: ['client_secret_post', 'client_secret_basic'] })
  const clientId = c.string(obj, 'clientId', path, { required: true })
  const clientSecret = c.secret(obj, 'clientSecret', path, true)
  const scope = c.string(obj, 'scope', path)
  const timeout = c.number(obj, 'timeout', path, { default: 10, above: 0, max: 300 })
  if (tokenUrl === undefined || clientId === undefined || timeout === undefined) return undefined
  return {
    type: 'keycloak', name, tokenUrl, timeout, insecureHttp,
    grant: grant as KeycloakCredential['grant'],
    clientAuth: clientAuth as KeycloakCredential['clientAuth'],
    clientId, clientSecret, scope,
  }
}

const SCHEMAS: Record<string, { keys: readonly string[], read: (c: Checker, obj: Raw, path: string, name: string) => CredentialConfig | undefined }> = {
  keycloak: {
    keys: [...COMMON, 'url', 'realm', 'tokenUrl', 'grant', 'clientId', 'clientSecret', 'clientAuth', 'scope'],
    read: keycloak,
  },
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
  const obj = c.object(raw, path, schema.keys)
  return obj === undefined ? undefined : schema.read(c, obj, path, name)
}
