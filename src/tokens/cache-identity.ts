// A credential's cache identity: SHA-256 over who it is (type, token URL, and its service's identity fields), never a secret.
import { createHash } from 'node:crypto'
import { serviceFor, type CredentialConfig } from '../credentials/registry.js'

/**
 * Two credentials with the same identity get the same tokens from their identity service, so
 * replicas (or two names in one config) may share them; any other difference keeps them apart.
 */
export function cacheIdentity (cfg: CredentialConfig, all: Readonly<Record<string, CredentialConfig>>): string {
  const fields: Record<string, unknown> = { type: cfg.type, tokenUrl: cfg.tokenUrl }
  const identityOf = (name: string): string | undefined => {
    const other = all[name]
    return other === undefined ? undefined : cacheIdentity(other, all)
  }
  // Mappings (Keycloak's `params`) count whatever the order of their keys.
  for (const [key, value] of Object.entries(serviceFor(cfg).identity(cfg, identityOf))) fields[key] = sortKeys(value)
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex')
}

function sortKeys (value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, sortKeys(v)]))
}
