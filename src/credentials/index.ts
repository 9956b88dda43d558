// Picks the implementation for a credential's `type`; unknown types never get this far (validation).
import type { CredentialConfig } from '../config/types.js'
import type { Credential, CredentialDeps } from './credential.js'
import { keycloakCredential } from './keycloak.js'
import { regardsCredential } from './regards.js'
import { waltidWalletCredential } from './waltid-wallet.js'

export function createCredential (cfg: CredentialConfig, deps: CredentialDeps): Credential {
  switch (cfg.type) {
    case 'keycloak': return keycloakCredential(cfg)
    case 'regards': return regardsCredential(cfg)
    case 'waltid-wallet': return waltidWalletCredential(cfg, deps)
  }
}
