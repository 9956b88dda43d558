// The Redis side of the shared cache: ioredis loaded on demand, every command bounded by 250 ms, one warning per outage.
import type { Redis as RedisClient } from 'ioredis'
import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
import { publicRedisUrl } from '../config/cache-schema.js'
import type { CacheConfig } from '../config/types.js'

/** The longest a command (and so a client request) waits on Redis. */
const REDIS_WAIT_MS = 250
/** Bounds the first connection attempt, which the first token requests wait for (they wait for a token anyway). */
const REDIS_CONNECT_MS = 1000
/** How often an unavailable Redis is probed (PING) to go back to it. */
const PROBE_MS = 1000

type CacheOperation = 'get' | 'set' | 'lock' | 'delete'

/** What the shared cache counts (observability/metrics.ts registers it). */
export interface CacheMetrics {
  cacheOperations: Counter<'operation' | 'outcome'>
}

/** Deletes KEYS[1] only if it still holds ARGV[1]: releases a lock, drops a refused token. */
const COMPARE_AND_DELETE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

type Client = RedisClient & { tpCompareAndDelete: (key: string, value: string) => Promise<number> }

/** Undefined from an operation means Redis did not answer in time (or is known down): work alone. */
export class RedisStore {
  readonly #client: Client
  readonly #log: Logger
  readonly #metrics: CacheMetrics
  readonly #where: string
  #up = true
  /** The first connection attempt's outcome: true once ready, false at its first error (refused, timed out, auth). */
  readonly #first: Promise<boolean>
  #probe?: NodeJS.Timeout
  #closed = false

  private constructor (client: Client, where: string, log: Logger, metrics: CacheMetrics) {
    this.#client = client
    this.#where = where
    this.#log = log
    this.#metrics = metrics
    this.#first = new Promise((resolve) => {
      client.once('ready', () => resolve(true))
      client.once('error', () => resolve(false))
    })
    client.on('error', (err: Error) => { this.#down(err.message) })
    client.on('ready', () => { if (!this.#up) void this.#check() })
  }

  /** Connects in the background; loads the Redis client only now, so a config without `cache` never pays for it. */
  static async open (cfg: CacheConfig['redis'], log: Logger, metrics: CacheMetrics): Promise<RedisStore> {
    const { Redis } = await import('ioredis')
    const tls = cfg.url.startsWith('rediss:')
    const client = new Redis(cfg.url, {
      ...(cfg.password === undefined ? {} : { password: cfg.password.reveal() }),
      // rediss:// always verifies the server's certificate: against `ca` when given, else the system CAs.
      ...(tls ? { tls: { rejectUnauthorized: true, ...(cfg.ca === undefined ? {} : { ca: cfg.ca }) } } : {}),
      commandTimeout: REDIS_WAIT_MS,
      connectTimeout: REDIS_CONNECT_MS,
      // Fail at once instead of queueing while disconnected; never replay a command on another connection.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      // A replica without Redis must not log a line per reconnect attempt: #down logs once per outage.
      showFriendlyErrorStack: false,
    }) as Client
    client.defineCommand('tpCompareAndDelete', { numberOfKeys: 1, lua: COMPARE_AND_DELETE })
    return new RedisStore(client, publicRedisUrl(cfg.url), log, metrics)
  }

  /** GET; `accept` turns the stored value into what the caller wants (undefined: a miss). */
  async get<T> (key: string, accept: (value: string) => T | undefined): Promise<{ value?: T } | undefined> {
    return await this.#run('get', async () => {
      const raw = await this.#client.get(key)
      const value = raw === null ? undefined : accept(raw)
      return { outcome: value === undefined ? 'miss' : 'hit', result: { value } }
    })
  }

  async set (key: string, value: string, ttlMs: number): Promise<boolean | undefined> {
    return await this.#run('set', async () => {
      await this.#client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)))
      return { outcome: 'ok', result: true }
    })
  }

  /** SET NX PX: true when this caller now holds the lock, false when another does. */
  async lock (key: string, id: string, ttlMs: number): Promise<boolean | undefined> {
    return await this.#run('lock', async () => {
      const got = (await this.#client.set(key, id, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK'
      return { outcome: got ? 'ok' : 'miss', result: got }
    })
  }

  /** Deletes `key` only if it still holds `value`. */
  async compareAndDelete (key: string, value: string): Promise<boolean | undefined> {
    return await this.#run('delete', async () => {
      const deleted = (await this.#client.tpCompareAndDelete(key, value)) === 1
      return { outcome: deleted ? 'ok' : 'miss', result: deleted }
    })
  }

  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#probe)
    try {
      await Promise.race([this.#client.quit(), new Promise((resolve) => setTimeout(resolve, REDIS_WAIT_MS).unref())])
    } catch { /* already gone */ }
    this.#client.disconnect()
  }

  async #run<R> (operation: CacheOperation, fn: () => Promise<{ outcome: 'hit' | 'miss' | 'ok', result: R }>): Promise<R | undefined> {
    if (!this.#up || this.#closed) return undefined
    // The first commands come while the first connection is being made (the process is starting): wait for its outcome.
    if (this.#client.status !== 'ready' && !(await this.#first)) {
      this.#metrics.cacheOperations.inc({ operation, outcome: 'error' })
      this.#down('not connected')
      return undefined
    }
    try {
      const { outcome, result } = await fn()
      this.#metrics.cacheOperations.inc({ operation, outcome })
      return result
    } catch (err) {
      this.#metrics.cacheOperations.inc({ operation, outcome: 'error' })
      this.#down((err as Error).message)
      return undefined
    }
  }

  #down (reason: string): void {
    if (!this.#up || this.#closed) return
    this.#up = false
    this.#log.warn({ redis: this.#where, reason },
      `shared token cache ${this.#where} unavailable (${reason}); each replica works alone until it is back`)
    this.#probe = setInterval(() => { void this.#check() }, PROBE_MS)
    this.#probe.unref()
  }

  async #check (): Promise<void> {
    if (this.#up || this.#closed || this.#client.status !== 'ready') return
    try {
      await this.#client.ping()
    } catch {
      return
    }
    if (this.#up || this.#closed) return
    this.#up = true
    clearInterval(this.#probe)
    this.#log.info({ redis: this.#where }, `shared token cache ${this.#where} is available again`)
  }
}
