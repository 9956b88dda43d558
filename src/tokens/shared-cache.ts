// The shared token cache behind the token manager: read first, one replica fetches under a lock, the rest adopt its token.
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { CacheConfig } from '../config/types.js'
import { TokenRequestError } from '../credentials/token-error.js'
import { open, seal } from './cache-crypto.js'
import { describeToken, type TokenInfo } from './lifetime.js'
import { RedisStore, type CacheMetrics } from './redis-store.js'

/** How often a replica waiting for another one's token request looks for its result. */
const POLL_MS = 50
/** The lock outlives its holder's token request by this much (time to write the token). */
const LOCK_MARGIN_MS = 2000

export type TokenSource = 'identity-service' | 'cache'

export interface Obtained {
  info: TokenInfo
  source: TokenSource
  /** The value stored in Redis for this token, for the compare-and-delete on an upstream 401. */
  handle?: string
}

interface CacheRequest {
  credential: string
  identity: string
  /** The token this replica holds now: only a newer one is adopted (refresh ahead). */
  held?: TokenInfo
  /** A token an upstream refused: never adopted again. */
  refused?: string
  minValidityMs: number
  /** The token-request timeout: how long to wait for another replica, and how long the lock lives. */
  timeoutMs: number
  /** One request to the identity service. */
  fetch: () => Promise<TokenInfo>
  signal: AbortSignal
}

/** What goes to Redis, encrypted: the token and its times, nothing about the credential. */
interface Stored { token: string, receivedAt: number, expiresAt: number, expirySource: TokenInfo['expirySource'] }

export class SharedCache {
  readonly #store: RedisStore
  readonly #key: Buffer
  readonly #prefix: string
  readonly #log: Logger
  readonly #now: () => number
  /** Identities whose cached value did not decrypt, so that is logged once, not at every read. */
  readonly #undecryptable = new Set<string>()

  constructor (store: RedisStore, cfg: CacheConfig['redis'], log: Logger, now: () => number) {
    this.#store = store
    this.#key = Buffer.from(cfg.key.reveal().trim(), 'base64')
    this.#prefix = cfg.keyPrefix
    this.#log = log
    this.#now = now
  }

  static async open (cfg: CacheConfig['redis'], log: Logger, metrics: CacheMetrics, now: () => number = Date.now): Promise<SharedCache> {
    return new SharedCache(await RedisStore.open(cfg, log, metrics), cfg, log, now)
  }

  /**
   * A token from the cache when there is a usable, newer one; else from the identity service,
   * fetched by whichever replica takes the lock while the others wait for it. Without Redis: alone.
   */
  async obtain (req: CacheRequest): Promise<Obtained> {
    const lockKey = `${this.#prefix}lock:${req.identity}`
    const deadline = this.#now() + req.timeoutMs
    for (;;) {
      const found = await this.#read(req)
      if (found === undefined) return { info: await req.fetch(), source: 'identity-service' }
      if (found.value !== undefined) return found.value
      const id = `${hostname()}/${process.pid}/${randomBytes(6).toString('hex')}`
      const locked = await this.#store.lock(lockKey, id, req.timeoutMs + LOCK_MARGIN_MS)
      if (locked === undefined) return { info: await req.fetch(), source: 'identity-service' }
      if (locked) {
        try {
          return await this.#fetchAndStore(req)
        } finally {
          void this.#store.compareAndDelete(lockKey, id)
        }
      }
      if (this.#now() >= deadline) {
        throw new TokenRequestError('CACHE_WAIT_TIMEOUT', `waited ${req.timeoutMs / 1000}s for the replica holding the lock to get a token`,
          { error: 'cache_wait_timeout' })
      }
      await sleep(POLL_MS, undefined, { signal: req.signal })
    }
  }

  /** Drops the cached token an upstream refused, if it is still the one cached (compare-and-delete). */
  drop (identity: string, handle: string): void {
    void this.#store.compareAndDelete(this.#tokenKey(identity), handle)
  }

  async close (): Promise<void> {
    await this.#store.close()
  }

  #tokenKey (identity: string): string { return `${this.#prefix}token:${identity}` }

  async #fetchAndStore (req: CacheRequest): Promise<Obtained> {
    // Another replica may have stored a token between our read and our lock.
    const again = await this.#read(req)
    if (again?.value !== undefined) return again.value
    const info = await req.fetch()
    const stored: Stored = { token: info.token, receivedAt: info.receivedAt, expiresAt: info.expiresAt, expirySource: info.expirySource }
    const handle = seal(this.#key, req.identity, JSON.stringify(stored))
    const ok = await this.#store.set(this.#tokenKey(req.identity), handle, info.expiresAt - this.#now())
    return { info, source: 'identity-service', ...(ok === true ? { handle } : {}) }
  }

  /** Undefined: Redis unavailable. `{}`: nothing to adopt. */
  async #read (req: CacheRequest): Promise<{ value?: Obtained } | undefined> {
    return await this.#store.get(this.#tokenKey(req.identity), (handle) => {
      const stored = this.#decrypt(req, handle)
      if (stored === undefined || stored.token === req.refused) return undefined
      if (stored.expiresAt - this.#now() <= req.minValidityMs) return undefined
      if (req.held !== undefined && stored.expiresAt <= req.held.expiresAt) return undefined
      const info: TokenInfo = {
        ...describeToken(stored.token, undefined, stored.receivedAt),
        expiresAt: stored.expiresAt,
        expirySource: stored.expirySource,
      }
      return { info, source: 'cache' as const, handle }
    })
  }

  #decrypt (req: CacheRequest, handle: string): Stored | undefined {
    const text = open(this.#key, req.identity, handle)
    let stored: Stored | undefined
    try {
      stored = text === undefined ? undefined : JSON.parse(text) as Stored
    } catch { /* not ours */ }
    if (stored === undefined || typeof stored.token !== 'string' ||
      typeof stored.expiresAt !== 'number' || typeof stored.receivedAt !== 'number') {
      if (!this.#undecryptable.has(req.identity)) {
        this.#undecryptable.add(req.identity)
        this.#log.warn({ credential: req.credential },
          `the cached token of credential "${req.credential}" does not decrypt with cache.redis.key ` +
            '(another key, or altered); treating it as a miss')
      }
      return undefined
    }
    this.#undecryptable.delete(req.identity)
    return stored
  }
}
