// A credential's cache identity: SHA-256 over who it is (type, token URL, client, user, tenant, scope, params), never a secret.
import { createHash } from 'node:crypto'
import type { CredentialConfig } from '../config/types.js'

/**
 * Two credentials with the same identity get the same tokens from their identity service, so
 * replicas (or two names in one config) may share them; any other difference keeps them apart.
 * A wallet that logs in with a keycloak credential's token is that credential's user.
 */
export function cacheIdentity (cfg: CredentialConfig, all: Record<string, CredentialConfig>): string {
  const fields: Record<string, unknown> = { type: cfg.type, tokenUrl: cfg.tokenUrl }
  const extra = cfg as unknown as Record<string, unknown>
  switch (cfg.type) {
    case 'keycloak': Object.assign(fields, { clientId: cfg.clientId, username: cfg.username, scope: cfg.scope }); break
    case 'regards': Object.assign(fields, { clientId: cfg.client.id, username: cfg.username, tenant: cfg.tenant }); break
    case 'waltid-wallet': {
      const via = cfg.keycloak === undefined ? undefined : all[cfg.keycloak]
      Object.assign(fields, { username: cfg.username, via: via === undefined ? undefined : cacheIdentity(via, all) })
      break
    }
  }
  // Extra form parameters for every token request (`params`), when the credential type has them.
  if (extra.params !== undefined) fields.params = sortKeys(extra.params)
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex')
}

function sortKeys (value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, sortKeys(v)]))
}
