// Picks the implementation for a credential's `type`; unknown types never get this far (validation).
import type { CredentialConfig } from '../config/types.js'
import type { Credential } from './credential.js'
import { keycloakCredential } from './keycloak.js'

export function createCredential (cfg: CredentialConfig): Credential {
  switch (cfg.type) {
    case 'keycloak': return keycloakCredential(cfg)
    default: {
      const never: never = cfg.type
      throw new TypeError(`unknown credential type ${String(never)}`)
    }
  }
}
