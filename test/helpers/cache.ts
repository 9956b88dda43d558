// The `cache:` block for tests against a Redis peer, and a fresh AES key.
import { randomBytes } from 'node:crypto'
import type { RedisPeer } from '../peers/redis-server.js'

export const newCacheKey = (): string => randomBytes(32).toString('base64')

/** One key for a test file: every sidecar that should share tokens uses it. */
export const CACHE_KEY = newCacheKey()

export function cacheBlock (redis: RedisPeer, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { redis: { url: redis.url, password: redis.password, key: CACHE_KEY, ...extra } }
}
