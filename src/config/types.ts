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

/** What every credential has, whatever its identity service; each service extends it with its own fields. */
export interface CredentialBase {
  name: string
  /** The identity service: the `type:` of the entry. */
  type: string
  /** The identity service's token URL, derived from url+realm when not given. */
  tokenUrl: string
  /** Seconds allowed for one token request. */
  timeout: number
  insecureHttp: boolean
  /** PEM certificates trusted for the identity service's TLS instead of the system CAs. */
  ca?: string
}

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

/** `C`: the credential types the config was read with (the identity services handed to validateConfig). */
export interface Config<C extends CredentialBase = CredentialBase> {
  listen: ListenConfig
  admin: Endpoint
  log: LogConfig
  refresh: RefreshConfig
  /** Seconds that in-flight requests get to finish on SIGTERM. */
  shutdownGrace: number
  credentials: Record<string, C>
  upstreams: Record<string, UpstreamConfig>
  cache?: CacheConfig
}
