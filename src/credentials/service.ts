// One identity service, all in one module: its credential type's schema, `check` summary, cache identity, troubleshooting rows and tokens.
import type { CredentialSchema } from '../config/credential-schema.js'
import type { CredentialBase } from '../config/types.js'
import type { Credential, CredentialDeps } from './credential.js'
import type { TokenErrorInfo } from './token-error.js'

/** A row of the README's Troubleshooting table: when it applies to a failed token request, and the fix. */
export interface Hint {
  match: (info: TokenErrorInfo) => boolean
  /** The fix, word for word as in the README's table. */
  fix: string
}

/**
 * Everything tokenproxy knows about one identity service, for credentials of type `C['type']`.
 * From CredentialSchema: `type`, `keys`, `read` (and the optional `checkLinks`).
 */
export interface IdentityService<C extends CredentialBase> extends CredentialSchema<C> {
  /** `tokenproxy check`'s line for a credential (the token URL is added after it); secrets only by Secret.describe(). */
  describe (cfg: C): string
  /**
   * Who the credential is to the shared cache, besides its type and token URL: the fields that
   * select which tokens it gets (client, user, ...), never a secret. `identityOf` is another
   * credential's identity, for one that logs in with that credential's token.
   */
  identity (cfg: C, identityOf: (name: string) => string | undefined): Record<string, unknown>
  /** Its rows of the Troubleshooting table, the more specific first; the generic rows come after them. */
  readonly hints: readonly Hint[]
  /** The credential that fetches tokens for `cfg`. */
  create (cfg: C, deps: CredentialDeps): Credential
}
