// The `cache:` block for tests against a Redis peer, a fresh AES key, and the usual peers of a cache test.
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { startKeycloak, type KeycloakEmulator, type KeycloakOptions } from '../peers/keycloak-emulator.js'
import type { RedisPeer } from '../peers/redis-server.js'
import { startUpstream, type Upstream } from '../peers/upstream.js'

export const newCacheKey = (): string => randomBytes(32).toString('base64')

/** One key for a test file: every sidecar that should share tokens uses it. */
export const CACHE_KEY = newCacheKey()

export function cacheBlock (redis: RedisPeer, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { redis: { url: redis.url, password: redis.password, key: CACHE_KEY, ...extra } }
}

export interface RegistryPeers {
  kc: KeycloakEmulator
  up: Upstream
  /** The keycloak credential of client test-ext. */
  registry: Record<string, unknown>
  /** A config: that credential (with `extra`) as `registry`, routed at /registry to the upstream, sharing through Redis. */
  doc: (extra?: Record<string, unknown>) => Record<string, unknown>
}

/** A Keycloak emulator with the client test-ext and a recording upstream, both closed with the test. */
export async function registryPeers (t: Test, redis: RedisPeer, opts: KeycloakOptions = {}): Promise<RegistryPeers> {
  const kc = await startKeycloak({ clients: { 'test-ext': { secret: 's3cret' } }, ...opts })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const registry = { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' }
  const doc = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    credentials: { registry: { ...registry, ...extra } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
    cache: cacheBlock(redis),
  })
  return { kc, up, registry, doc }
}
