// The validated, frozen configuration that the rest of tokenproxy reads.
import type { Secret } from './secrets.js'

export interface Endpoint { host: string, port: number }

export interface RefreshConfig {
  /** Start refreshing after this fraction of the token's lifetime. */
  at: number
  /** ± this fraction of the lifetime. */
  jitter: number
  /** Seconds: a token with less left is never injected. */
  minValidity: number
}

interface CredentialBase {
  name: string
  /** The identity service's token URL, derived from url+realm when not given. */
  tokenUrl: string
  /** Seconds allowed for one token request. */
  timeout: number
  insecureHttp: boolean
}

export type ClientAuth = 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt'

export interface KeycloakCredential extends CredentialBase {
  type: 'keycloak'
  grant: 'client_credentials' | 'password'
  clientId: string
  clientSecret?: Secret
  clientAuth: ClientAuth
  username?: string
  password?: Secret
  scope?: string
  privateKey?: Secret
  keyId?: string
  alg?: string
}

export type CredentialConfig = KeycloakCredential

export interface UpstreamConfig {
  name: string
  target: string
  credential: string
  prefix?: string
  port?: number
  /** Seconds to wait for the upstream's response headers. */
  timeout: number
  insecureHttp: boolean
}

export interface Config {
  listen: Endpoint
  admin: Endpoint
  log: { level: string }
  refresh: RefreshConfig
  /** Seconds that in-flight requests get to finish on SIGTERM. */
  shutdownGrace: number
  credentials: Record<string, CredentialConfig>
  upstreams: Record<string, UpstreamConfig>
}
