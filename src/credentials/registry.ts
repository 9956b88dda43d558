// The identity services tokenproxy speaks to: the only place one is named. A new one is a module and a line here.
import type { CredentialBase } from '../config/types.js'
import type { Credential, CredentialDeps } from './credential.js'
import { keycloakService } from './keycloak.js'
import { regardsService } from './regards.js'
import type { IdentityService } from './service.js'
import { waltidWalletService } from './waltid-wallet.js'

/** In the order `check` and problems list their types. */
export const SERVICES = [keycloakService, regardsService,
  waltidWalletService] as const satisfies ReadonlyArray<IdentityService<CredentialBase>>

type ConfigOf<S> = S extends IdentityService<infer C> ? C : never

/** A validated `credentials.NAME` entry: one of the services' credential types. */
export type CredentialConfig = ConfigOf<(typeof SERVICES)[number]>

export const CREDENTIAL_TYPES: ReadonlyArray<CredentialConfig['type']> = SERVICES.map((s) => s.type)

const BY_TYPE = new Map<string, IdentityService<CredentialBase>>(SERVICES.map((s) => [s.type, s]))

/** The service of a credential (validation only lets through the types listed in SERVICES). */
export function serviceFor<C extends CredentialConfig> (cfg: C): IdentityService<C> {
  // The one cast: a config of type T and the service whose `type` is T go together, which TS cannot follow through a union.
  return BY_TYPE.get(cfg.type) as unknown as IdentityService<C>
}

export function createCredential (cfg: CredentialConfig, deps: CredentialDeps): Credential {
  return serviceFor(cfg).create(cfg, deps)
}
