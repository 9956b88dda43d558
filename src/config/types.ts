// The validated, frozen configuration that the rest of tokenproxy reads.
import type { Secret } from './secrets.js'

export interface Endpoint { host: string, port: number }

/** The shared listener, and what every proxy listener (shared or dedicated port) holds its clients to. */
export interface ListenConfig extends Endpoint {
  /** Seconds for a request's headers to arrive (from the connection's start or the previous response). */
  headersTimeout: number
  /** Seconds a request body may go without a byte. */
  bodyTimeout: number
  /** Seconds a kept-alive connection may sit idle between requests. */
  idleTimeout: number
  /** Bytes that all bodies kept for a 401 replay may hold at once. */
  replayBudget: number
}

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
  /** PEM certificates trusted for the identity service's TLS instead of the system CAs. */
  ca?: string
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
  /** Extra form parameters for every token request (audience, resource, ...). */
  params?: Record<string, string>
  privateKey?: Secret
  keyId?: string
  alg?: string
}

export interface RegardsCredential extends CredentialBase {
  type: 'regards'
  tenant: string
  client: { id: string, secret: Secret }
  username: string
  password: Secret
  /** `json` (REGARDS V2, 2024+) or `form` (V1 servers read query/form parameters). */
  format: 'json' | 'form'
}

export interface WaltidWalletCredential extends CredentialBase {
  type: 'waltid-wallet'
  /** The wallet-api root; routes live under {url}/wallet-api. */
  url: string
  username?: string
  password?: Secret
  /** Log in with this keycloak credential's access token instead of a password. */
  keycloak?: string
}

export type CredentialConfig = KeycloakCredential | RegardsCredential | WaltidWalletCredential

/** What happens to the client's forwarding headers (Forwarded, X-Forwarded-*, X-Real-IP): see README. */
export type ForwardedMode = 'strip' | 'set' | 'keep'

export interface UpstreamConfig {
  name: string
  target: string
  credential: string
  prefix?: string
  port?: number
  /** Seconds to wait for the upstream's response headers, a connection, connect and TLS included. */
  timeout: number
  /** Most connections open to the upstream at once; further requests wait (within `timeout`). */
  connections: number
  forwarded: ForwardedMode
  /** Forward X-HTTP-Method-Override and its kin (a legacy client that can only GET and POST). */
  methodOverride: boolean
  insecureHttp: boolean
  /** PEM certificates trusted for the upstream's TLS instead of the system CAs. */
  ca?: string
}

export interface LogConfig {
  level: string
  /** One access-log line per proxied request. */
  requests: boolean
  /** `json`, `pretty`, or undefined: pretty when stdout is a terminal, else JSON. */
  format?: 'json' | 'pretty'
}

/** `cache.redis`: replicas that share a Redis share their tokens, AES-256-GCM-encrypted with `key`. */
export interface CacheConfig {
  redis: {
    /** redis:// or rediss://; may carry user:password. */
    url: string
    password?: Secret
    keyPrefix: string
    /** 32 random bytes, base64. */
    key: Secret
    /** PEM certificates trusted for rediss:// instead of the system CAs. */
    ca?: string
  }
}

export interface Config {
  listen: ListenConfig
  admin: Endpoint
  log: LogConfig
  refresh: RefreshConfig
  /** Seconds that in-flight requests get to finish on SIGTERM. */
  shutdownGrace: number
  credentials: Record<string, CredentialConfig>
  upstreams: Record<string, UpstreamConfig>
  cache?: CacheConfig
}
