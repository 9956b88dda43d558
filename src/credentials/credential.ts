// The one interface every identity service's credential implements: fetch a fresh access token.

export interface IssuedToken {
  accessToken: string
  /** Seconds, as the identity service said; undefined when it did not say. */
  expiresIn?: number
}

export interface Credential {
  readonly name: string
  /** Where tokens come from, for logs and `check` (never carries a secret). */
  readonly tokenUrl: string
  /** One token request; must honour `signal` (the token-request timeout). */
  fetchToken (signal: AbortSignal): Promise<IssuedToken>
  /** Done with it: best-effort cleanup (a wallet logout), then its connections end. Call once. */
  close (): Promise<void>
}

/** What a credential may ask of the others: a chained login uses another credential's token. */
export interface CredentialDeps {
  tokenFor (name: string): Promise<string>
}
