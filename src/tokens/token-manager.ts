// Holds one token per credential: refresh ahead, one fetch in flight, backoff, never an unusable token.
import type { Logger } from 'pino'
import type { Counter, Gauge, Histogram } from 'prom-client'
import type { RefreshConfig } from '../config/types.js'
import type { Credential } from '../credentials/credential.js'
import { AttemptWindow, type WindowLimit } from '../credentials/attempt-window.js'
import { withDeadline } from '../credentials/deadline.js'
import { TokenRequestError, toTokenError, type TokenErrorInfo } from '../credentials/token-error.js'
import { ProxyError } from '../errors.js'
import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from './backoff.js'
import { describeToken, type TokenInfo } from './lifetime.js'
import type { Obtained, SharedCache, TokenSource } from './shared-cache.js'

/** Longest single timer: a day, well under Node's 2^31-1 ms limit. */
const MAX_TIMER_MS = 24 * 3600 * 1000

/**
 * The floor on token fetches caused by upstream 401s: one per credential per 10 s. An endpoint that
 * answers 401 whatever the token would otherwise cost a token request per client request.
 */
const AUTH_REFETCH_LIMIT: WindowLimit = { max: 1, windowMs: 10_000 }

/** What the token manager measures (observability/metrics.ts registers these). */
interface TokenMetrics {
  tokenRequests: Counter<'credential' | 'outcome'>
  tokenDuration: Histogram<'credential'>
  tokenExpiry: Gauge<'credential'>
}

type CredentialState = 'pending' | 'valid' | 'refreshing' | 'failing' | 'expired'

interface LastError extends TokenErrorInfo { message: string, at: string }

export interface CredentialStatus {
  state: CredentialState
  expiresAt: string | null
  lastError: LastError | null
  /** Where the current token came from; only with a shared cache. */
  source?: TokenSource
}

interface Entry {
  credential: Credential
  timeoutMs: number
  current?: TokenInfo
  hadToken: boolean
  inflight?: Promise<TokenInfo | undefined>
  lastError?: LastError
  failures: number
  timer?: NodeJS.Timeout
  nextAttemptAt?: number
  /** Aborted when the credential is removed (config reload) or the manager closes. */
  stop: AbortController
  /** Fetches that upstream 401s caused, within AUTH_REFETCH_LIMIT's window. */
  refetches: AttemptWindow
  /** The shared cache's view of this credential (cache.redis only). */
  shared?: { identity: string, source?: TokenSource, handle?: string, refused?: string }
}

interface TokenManagerOptions {
  /** `cacheIdentity`: who the credential is, for the shared cache (see cache-identity.ts). */
  credentials: Array<{ credential: Credential, timeoutSeconds: number, cacheIdentity?: string }>
  /** Replicas share their tokens through it (cache.redis). */
  cache?: SharedCache
  refresh: RefreshConfig
  logger: Logger
  metrics: TokenMetrics
  backoff?: BackoffOptions
  now?: () => number
  random?: () => number
  /** Floor on 401-triggered fetches per credential (default AUTH_REFETCH_LIMIT). */
  refetchLimit?: WindowLimit
}

export class TokenManager {
  readonly #entries = new Map<string, Entry>()
  #refresh: RefreshConfig
  readonly #log: Logger
  readonly #metrics: TokenMetrics
  readonly #backoff: BackoffOptions
  readonly #now: () => number
  readonly #random: () => number
  #started = false
  readonly #refetchLimit: WindowLimit
  readonly #cache?: SharedCache

  constructor (opts: TokenManagerOptions) {
    this.#now = opts.now ?? Date.now
    this.#refetchLimit = opts.refetchLimit ?? AUTH_REFETCH_LIMIT
    this.#cache = opts.cache
    for (const { credential, timeoutSeconds, cacheIdentity } of opts.credentials) this.#add(credential, timeoutSeconds, cacheIdentity)
    this.#refresh = opts.refresh
    this.#log = opts.logger
    this.#metrics = opts.metrics
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF
    this.#random = opts.random ?? Math.random
  }

  /** Starts fetching every credential's first token at once. */
  start (): void {
    this.#started = true
    for (const e of this.#entries.values()) void this.#fetchNow(e)
  }

  /**
   * Adds a credential (config reload: a new one, or a changed one in place of the old, with no
   * moment without an entry) and, once started, fetches its first token; requests for it wait
   * for that fetch as at start.
   */
  async add (credential: Credential, timeoutSeconds: number, cacheIdentity?: string): Promise<void> {
    const old = this.#entries.get(credential.name)
    const e = this.#add(credential, timeoutSeconds, cacheIdentity)
    if (this.#started) void this.#fetchNow(e)
    if (old !== undefined) await this.#retire(old)
  }

  /** Removes a credential: its timers and fetch stop, and it closes (a wallet logs out; its connections end). */
  async remove (name: string): Promise<void> {
    const e = this.#entry(name)
    this.#entries.delete(name)
    this.#metrics.tokenExpiry.remove({ credential: name })
    await this.#retire(e)
  }

  async #retire (e: Entry): Promise<void> {
    e.stop.abort()
    clearTimeout(e.timer)
    await e.credential.close()
  }

  /** New refresh settings (config reload) take effect from each credential's next token. */
  setRefresh (refresh: RefreshConfig): void {
    this.#refresh = refresh
  }

  #add (credential: Credential, timeoutSeconds: number, cacheIdentity?: string): Entry {
    const refetches = new AttemptWindow(this.#refetchLimit, () => this.#now())
    const e: Entry = { credential, timeoutMs: timeoutSeconds * 1000, hadToken: false, failures: 0, stop: new AbortController(), refetches }
    if (this.#cache !== undefined && cacheIdentity !== undefined) e.shared = { identity: cacheIdentity }
    this.#entries.set(credential.name, e)
    return e
  }

  /** The token to inject now, without waiting; undefined when none is usable. */
  usable (name: string): TokenInfo | undefined {
    // A credential a reload removed has none (a request that started on the old route asks).
    const e = this.#entries.get(name)
    return e === undefined ? undefined : this.#usable(e)
  }

  /**
   * The token to inject: the current one when usable, else the result of the fetch in flight
   * (first token, or after a 401). Throws TOKEN_UNAVAILABLE when there is none.
   */
  async get (name: string): Promise<TokenInfo> {
    const e = this.#entries.get(name)
    if (e === undefined) {
      throw new ProxyError('TOKEN_UNAVAILABLE', `credential "${name}" was removed by a config reload`, { credential: name },
        { retryAfter: 1 })
    }
    const now = this.#usable(e)
    if (now !== undefined) return now
    if (e.inflight !== undefined) await e.inflight
    const after = this.#usable(e)
    if (after !== undefined) return after
    throw this.#unavailable(e)
  }

  /**
   * Drops `token` if it is still the current one (an upstream refused it) and fetches a new one.
   * A burst of 401s for the same token causes one fetch, and 401s keep causing at most one per
   * AUTH_REFETCH_LIMIT window. Returns true when a token other than `token` is (or will be) there
   * to replay with; false when the floor kept `token` in use.
   */
  invalidate (name: string, token: string): boolean {
    const e = this.#entries.get(name)
    if (e === undefined) return false
    if (e.current?.token !== token) return true
    if (!e.refetches.take()) {
      this.#log.debug({ credential: name, fingerprint: e.current.fingerprint },
        'upstream refused the token again; not fetching another within ' +
          `${e.refetches.limit.windowMs / 1000}s of the last 401-triggered fetch`)
      return false
    }
    this.#log.info({ credential: name, fingerprint: e.current.fingerprint }, 'upstream refused the token; fetching a new one')
    e.current = undefined
    if (e.shared !== undefined) {
      e.shared.refused = token
      if (e.shared.handle !== undefined) this.#cache?.drop(e.shared.identity, e.shared.handle)
    }
    void this.#fetchNow(e)
    return true
  }

  /**
   * Fetches a new token now (its secret was rotated), joining a fetch already in flight. The
   * current token stays in use until the new one arrives; a failure follows the usual rules.
   */
  async refresh (name: string): Promise<TokenInfo | undefined> {
    const e = this.#entry(name)
    if (e.inflight !== undefined) {
      const got = await e.inflight
      // That fetch may have carried the old secret: when it failed, try the new one now, not after the backoff.
      if (got !== undefined) return got
    }
    if (e.stop.signal.aborted) return undefined
    return await this.#fetchNow(e)
  }

  status (): Record<string, CredentialStatus> {
    const out: Record<string, CredentialStatus> = {}
    for (const [name, e] of this.#entries) {
      out[name] = {
        state: this.#state(e),
        expiresAt: e.current === undefined ? null : new Date(e.current.expiresAt).toISOString(),
        lastError: e.lastError ?? null,
        ...(this.#cache === undefined ? {} : { source: e.shared?.source ?? 'identity-service' }),
      }
    }
    return out
  }

  /** True when every named credential holds a usable token. */
  ready (names: Iterable<string>): boolean {
    for (const name of names) if (this.#usable(this.#entry(name)) === undefined) return false
    return true
  }

  /**
   * Stops timers, cancels fetches in flight, closes each credential (wallet logout, connections
   * to the identity services) and the shared cache.
   */
  async close (): Promise<void> {
    for (const e of this.#entries.values()) {
      e.stop.abort()
      clearTimeout(e.timer)
    }
    await Promise.allSettled([...this.#entries.values()].map(async (e) => await e.credential.close()))
    await this.#cache?.close()
  }

  #entry (name: string): Entry {
    const e = this.#entries.get(name)
    if (e === undefined) throw new TypeError(`unknown credential ${name}`)
    return e
  }

  #usable (e: Entry): TokenInfo | undefined {
    const t = e.current
    return t !== undefined && this.#now() < t.expiresAt - this.#refresh.minValidity * 1000 ? t : undefined
  }

  #state (e: Entry): CredentialState {
    if (this.#usable(e) !== undefined) {
      if (e.inflight !== undefined) return 'refreshing'
      return e.lastError === undefined ? 'valid' : 'failing'
    }
    if (e.inflight !== undefined && e.lastError === undefined) return e.hadToken ? 'refreshing' : 'pending'
    if (e.hadToken) return 'expired'
    return e.lastError === undefined ? 'pending' : 'failing'
  }

  #unavailable (e: Entry): ProxyError {
    const name = e.credential.name
    const err = e.lastError
    const wait = e.nextAttemptAt === undefined ? 1 : Math.max(1, Math.ceil((e.nextAttemptAt - this.#now()) / 1000))
    const why = err === undefined ? 'no token has been obtained yet' : err.message
    // `error` and `error_description` are the identity service's own words, so only when it answered.
    const answered = err?.status !== undefined
    return new ProxyError('TOKEN_UNAVAILABLE', `no usable access token for credential "${name}": ${why}`, {
      credential: name,
      ...(answered && err.error !== undefined ? { error: err.error } : {}),
      ...(answered && err.description !== undefined ? { error_description: err.description } : {}),
    }, { retryAfter: wait })
  }

  #fetchNow (e: Entry): Promise<TokenInfo | undefined> {
    if (e.inflight !== undefined) return e.inflight
    clearTimeout(e.timer)
    e.nextAttemptAt = undefined
    const p = this.#fetch(e).finally(() => { e.inflight = undefined })
    e.inflight = p
    return p
  }

  #schedule (e: Entry, delayMs: number): void {
    clearTimeout(e.timer)
    if (e.stop.signal.aborted) return
    const dueAt = this.#now() + delayMs
    e.nextAttemptAt = dueAt
    // Node fires timers longer than 2^31-1 ms (24.8 days) at once; a 30-day wallet session needs more.
    const wake = (): void => {
      const left = dueAt - this.#now()
      if (left > 0) {
        e.timer = setTimeout(wake, Math.min(left, MAX_TIMER_MS))
        e.timer.unref()
      } else {
        void this.#fetchNow(e)
      }
    }
    e.timer = setTimeout(wake, Math.min(delayMs, MAX_TIMER_MS))
    e.timer.unref()
  }

  /** When to refresh: at `at` ± jitter of the lifetime, and always before minValidity is reached. */
  #refreshDelay (t: TokenInfo): number {
    const life = t.expiresAt - t.receivedAt
    const { at, jitter, minValidity } = this.#refresh
    const planned = life * (at + jitter * (2 * this.#random() - 1))
    const usableFor = t.expiresAt - minValidity * 1000 - t.receivedAt
    return Math.max(0, Math.min(planned, usableFor * 0.9) - (this.#now() - t.receivedAt))
  }

  /** One request to the identity service, timed; refuses a token that arrives with minValidity or less left. */
  async #request (e: Entry): Promise<TokenInfo> {
    const stop = this.#metrics.tokenDuration.startTimer({ credential: e.credential.name })
    try {
      const issued = await withDeadline(e.timeoutMs, async (signal) => await e.credential.fetchToken(signal), e.stop.signal)
      const info = describeToken(issued.accessToken, issued.expiresIn, this.#now())
      const usableFor = (info.expiresAt - info.receivedAt) / 1000 - this.#refresh.minValidity
      if (usableFor <= 0) {
        const left = Math.round((info.expiresAt - info.receivedAt) / 100) / 10
        throw new TokenRequestError('EXPIRED_ON_ARRIVAL',
          `token arrived with ${left}s left (${info.expirySource}), not more than refresh.minValidity (${this.#refresh.minValidity}s)`,
          { error: 'token_expired_on_arrival' })
      }
      return info
    } finally {
      stop()
    }
  }

  /** From the identity service, or through the shared cache when there is one. */
  async #obtain (e: Entry): Promise<Obtained> {
    if (this.#cache === undefined || e.shared === undefined) return { info: await this.#request(e), source: 'identity-service' }
    return await this.#cache.obtain({
      credential: e.credential.name,
      identity: e.shared.identity,
      held: e.current,
      refused: e.shared.refused,
      minValidityMs: this.#refresh.minValidity * 1000,
      timeoutMs: e.timeoutMs,
      fetch: async () => await this.#request(e),
      signal: e.stop.signal,
    })
  }

  async #fetch (e: Entry): Promise<TokenInfo | undefined> {
    const name = e.credential.name
    try {
      const { info, source, handle } = await this.#obtain(e)
      if (e.stop.signal.aborted) return undefined
      e.current = info
      e.hadToken = true
      e.lastError = undefined
      e.failures = 0
      if (e.shared !== undefined) e.shared = { identity: e.shared.identity, source, ...(handle === undefined ? {} : { handle }) }
      if (source === 'identity-service') this.#metrics.tokenRequests.inc({ credential: name, outcome: 'success' })
      this.#metrics.tokenExpiry.set({ credential: name }, info.expiresAt / 1000)
      const refreshIn = this.#refreshDelay(info)
      this.#log.info({
        credential: name,
        fingerprint: info.fingerprint,
        exp: info.claims.exp,
        azp: info.claims.azp,
        jti: info.claims.jti,
        lifetimeS: Math.round((info.expiresAt - info.receivedAt) / 1000),
        expirySource: info.expirySource,
        refreshInS: Math.round(refreshIn / 1000),
        ...(e.shared === undefined ? {} : { source }),
      }, source === 'cache' ? 'token adopted from the shared cache' : 'token obtained')
      this.#schedule(e, refreshIn)
      return info
    } catch (thrown) {
      if (e.stop.signal.aborted) return undefined
      const err = toTokenError(thrown)
      e.failures += 1
      e.lastError = { ...err.info, message: err.message, at: new Date(this.#now()).toISOString() }
      // Waiting in vain for another replica's token request is not a request of this one's.
      if (err.code !== 'CACHE_WAIT_TIMEOUT') this.#metrics.tokenRequests.inc({ credential: name, outcome: err.outcome })
      const delay = backoffDelay(e.failures, err.outcome, this.#backoff, this.#random)
      const still = this.#usable(e)
      const fields = {
        credential: name,
        outcome: err.outcome,
        status: err.info.status,
        error: err.info.error,
        failures: e.failures,
        retryInS: Math.round(delay / 100) / 10,
        currentTokenValidS: still === undefined ? 0 : Math.round((still.expiresAt - this.#now()) / 1000),
      }
      if (err.outcome === 'rejected') this.#log.error(fields, `credential "${name}" rejected by the identity service: ${err.message}`)
      else this.#log.warn(fields, `token request for credential "${name}" failed: ${err.message}`)
      this.#schedule(e, delay)
      return undefined
    }
  }
}
