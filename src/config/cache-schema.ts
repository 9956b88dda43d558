// Validation of the `cache:` block: a shared Redis whose tokens are encrypted with `key`.
import type { Checker } from './checker.js'
import type { CacheConfig } from './types.js'

/** Bytes of an AES-256 key. */
export const CACHE_KEY_BYTES = 32

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Reads `cache`; undefined when absent or invalid (the problems are in `c`). */
export function readCache (c: Checker, raw: unknown): CacheConfig | undefined {
  if (raw === undefined || raw === null) return undefined
  const cache = c.object(raw, 'cache', ['redis'])
  if (cache === undefined) return undefined
  if (cache.redis === undefined || cache.redis === null) {
    c.add('cache.redis', 'is required (the only cache there is)')
    return undefined
  }
  const path = 'cache.redis'
  const before = c.problems.length
  const obj = c.object(cache.redis, path, ['url', 'password', 'keyPrefix', 'key', 'ca'])
  if (obj === undefined) return undefined
  const url = redisUrl(c, c.string(obj, 'url', path, { required: true }), `${path}.url`)
  const password = c.secret(obj, 'password', path, false)
  const keyPrefix = c.string(obj, 'keyPrefix', path, { default: 'tokenproxy:' })!
  const key = c.secret(obj, 'key', path, true)
  if (key !== undefined) {
    const text = key.reveal().trim()
    const bytes = BASE64.test(text) ? Buffer.from(text, 'base64').length : -1
    if (bytes !== CACHE_KEY_BYTES) {
      const got = bytes < 0 ? 'is not base64' : `decodes to ${bytes} bytes`
      c.add(`${path}.key`,
        `must be ${CACHE_KEY_BYTES} random bytes in base64 (openssl rand -base64 32); the value ${key.describe()} ${got}`)
    }
  }
  const ca = c.ca(obj, 'ca', path)
  if (ca !== undefined && url !== undefined && !url.startsWith('rediss:')) c.add(`${path}.ca`, 'is only used with a rediss:// (TLS) url')
  if (url === undefined || key === undefined || c.problems.length > before) return undefined
  return { redis: { url, keyPrefix, key, ...(password === undefined ? {} : { password }), ...(ca === undefined ? {} : { ca }) } }
}

function redisUrl (c: Checker, value: string | undefined, path: string): string | undefined {
  if (value === undefined) return undefined
  const u = c.parsedUrl(value, path, ['redis:', 'rediss:'], 'a redis:// or rediss:// (TLS)')
  if (u === undefined) return undefined
  if (u.hostname === '') c.add(path, 'needs a host')
  if (!/^\/?(\d+)?$/.test(u.pathname)) c.add(path, `the path must be a database number such as /0 (got ${u.pathname})`)
  if (u.search || u.hash) c.add(path, 'must not have a query or fragment')
  return value
}

/** The URL without user or password, for logs and `check`. */
export function publicRedisUrl (url: string): string {
  const u = new URL(url)
  u.username = ''
  u.password = ''
  return u.toString()
}
