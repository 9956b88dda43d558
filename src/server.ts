// buildServer(config): the proxy listeners, the admin listener and the token manager; never listens.
import type { Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { isLoopbackHost } from './config/checker.js'
import { diffConfig, isEmpty, type ConfigDiff } from './config/diff.js'
import type { Config, CredentialConfig } from './configuration.js'
import type { WindowLimit } from './credentials/attempt-window.js'
import { createCredential } from './credentials/registry.js'
import { buildAdmin } from './observability/health.js'
import { LogSummary } from './observability/log-summary.js'
import { openLogger } from './observability/logger.js'
import { createMetrics, type Metrics } from './observability/metrics.js'
import { ReplayBudget } from './proxy/body.js'
import { ProxyListener, type RunState } from './proxy/listener.js'
import { ProxyListenerSet } from './proxy/listener-set.js'
import type { BackoffOptions } from './tokens/backoff.js'
import { watchConfigFile, type ConfigWatch, type ReloadTrigger } from './reload.js'
import { cacheIdentity } from './tokens/cache-identity.js'
import { watchSecretFiles, type SecretWatch } from './tokens/secret-watch.js'
import { SharedCache } from './tokens/shared-cache.js'
import { TokenManager } from './tokens/token-manager.js'

export interface Listener {
  /** `listen`, `admin`, or `upstreams.NAME` for a dedicated port. */
  name: string
  /** The app answering new requests now (a reload replaces a proxy listener's app, not its server). */
  readonly app: FastifyInstance
  /** The socket server: it stays while apps are replaced. */
  server: Server
  host: string
  port: number
}

export interface Sidecar {
  /** The config in effect (a reload replaces it). */
  config: Config
  logger: Logger
  metrics: Metrics
  tokens: TokenManager
  /** The proxy listeners of the config in effect, then admin. */
  readonly listeners: Listener[]
  /** Bound base URLs by listener name, filled in by start(). */
  addresses: Record<string, string>
  /** Starts fetching tokens and listens everywhere; returns the bound addresses by listener name. */
  start (): Promise<Record<string, string>>
  /**
   * Applies a new, already validated config without dropping a request; returns what changed.
   * Unchanged credentials keep their tokens; `listen` and `admin` changes wait for a restart.
   */
  reload (next: Config): Promise<ConfigDiff>
  /** Re-reads `configFile` (SIGHUP); a no-op without one. Resolves once applied or refused. */
  reloadFile (trigger: ReloadTrigger): Promise<void>
  /** Stops accepting, lets in-flight requests finish up to `graceMs`, then closes the rest. */
  close (graceMs?: number): Promise<void>
  /** Cuts every client connection now, in flight or not, without waiting for the grace (a second signal). */
  abort (): void
}

/** A listener that could not bind: which one, where, and the config key that moves it. */
export class ListenError extends Error {
  readonly listener: string
  readonly address: string
  readonly code: string | undefined
  /** `listen.port`, `admin.port` or `upstreams.NAME.port`. */
  readonly key: string

  constructor (l: { name: string, host: string, port: number }, cause: unknown) {
    const code = (cause as { code?: unknown }).code
    const why = code === 'EADDRINUSE'
      ? 'the address is already in use (EADDRINUSE)'
      : code === 'EACCES' ? 'permission denied (EACCES)' : (cause as Error).message
    super(`${l.name} cannot listen on ${l.host}:${l.port}: ${why}`, { cause })
    this.name = 'ListenError'
    this.listener = l.name
    this.address = `${l.host}:${l.port}`
    this.code = typeof code === 'string' ? code : undefined
    this.key = `${l.name}.port`
  }
}

export interface BuildOptions {
  logger?: Logger
  backoff?: BackoffOptions
  now?: () => number
  random?: () => number
  /** How often the files behind `{ file }` secrets, and `configFile`, are re-read (default 10 s). */
  secretPollMs?: number
  /** The file the config came from: its changes are reloaded, on SIGHUP too. */
  configFile?: string
  /** The environment `${VAR}` references in a reloaded config read (default process.env). */
  env?: NodeJS.ProcessEnv
  /** The interval over which repeated TOKEN_UNAVAILABLE warnings are summarised (default 10 s). */
  summaryIntervalMs?: number
  /** Floor on 401-triggered token fetches per credential (default one per 10 s). */
  refetchLimit?: WindowLimit
}

export async function buildServer (initial: Config, opts: BuildOptions = {}): Promise<Sidecar> {
  let config = initial
  const logger = opts.logger ?? await openLogger(config.log)
  const metrics = createMetrics({ cache: config.cache !== undefined })
  const summary = new LogSummary(logger, opts.summaryIntervalMs)
  let used = usedCredentials(config)
  // Chained credentials (a wallet logging in with a Keycloak token) ask the manager for that token.
  const deps = { tokenFor: async (name: string) => (await tokens.get(name)).token }
  // Replicas that share a Redis share their tokens; without `cache`, the Redis client is never loaded.
  const cache = config.cache === undefined ? undefined : await SharedCache.open(config.cache.redis, logger, metrics, opts.now)
  const identityOf = (c: CredentialConfig, all: Record<string, CredentialConfig>): string | undefined => (cache === undefined
    ? undefined
    : cacheIdentity(c, all))
  const tokens: TokenManager = new TokenManager({
    credentials: Object.values(config.credentials).map((c) => ({
      credential: createCredential(c, deps), timeoutSeconds: c.timeout, cacheIdentity: identityOf(c, config.credentials),
    })),
    cache,
    refresh: config.refresh,
    logger,
    metrics,
    backoff: opts.backoff,
    now: opts.now,
    random: opts.random,
    refetchLimit: opts.refetchLimit,
  })
  // A rotated `{ file }` secret (a Kubernetes Secret volume update) gets its credential a new token with it.
  const watchSecrets = (c: Config): SecretWatch =>
    watchSecretFiles(c.credentials, { logger, intervalMs: opts.secretPollMs, onChange: (name) => { void tokens.refresh(name) } })
  let secrets = watchSecrets(config)
  const routeDeps = { tokens, metrics }
  // One budget for every proxy listener: it bounds the memory that bodies kept for a replay take.
  const budget = new ReplayBudget(config.listen.replayBudget)
  const state: RunState = { closing: false }
  const proxies = new ProxyListenerSet({
    host: config.listen.host,
    logger,
    metrics,
    summary,
    logRequests: () => config.log.requests,
    deps: routeDeps,
    // `listen` needs a restart to change, and with it the limits every proxy listener applies.
    limits: config.listen,
    budget,
    state,
  }, config.listen.port)

  const adminApp = buildAdmin({ tokens, metrics, usedCredentials: () => used, logger })
  const admin: Listener = { name: 'admin', app: adminApp, server: adminApp.server, ...config.admin }

  let started = false
  const addresses: Record<string, string> = {}
  /** Every listener, derived: the proxy listeners of the config in effect, then admin. */
  const listeners = (): Listener[] => [...proxies.all, admin]

  async function listen (l: Listener | ProxyListener): Promise<void> {
    if (!isLoopbackHost(l.host)) {
      logger.warn({ listener: l.name, host: l.host },
        `${l.name} listens on ${l.host}, which is reachable from other machines; anyone who reaches it uses tokenproxy's credentials`)
    }
    try {
      addresses[l.name] = l instanceof ProxyListener ? await l.listen() : await l.app.listen({ host: l.host, port: l.port })
    } catch (err) {
      throw new ListenError(l, err)
    }
  }

  /** Serves `next`'s upstreams: new apps behind the listeners kept, new dedicated ports opened, removed ones closed. */
  async function applyUpstreams (next: Config): Promise<void> {
    for (const name of await proxies.apply(next.upstreams)) delete addresses[name]
    if (started) for (const l of proxies.all) if (!l.server.listening) await listen(l)
  }

  // At start as on a reload: one piece of code builds the proxy listeners from the config.
  await applyUpstreams(config)

  const sidecar: Sidecar = {
    get config () { return config },
    logger,
    metrics,
    tokens,
    get listeners () { return listeners() },
    addresses,
    async start () {
      tokens.start()
      secrets.start()
      configWatch?.start()
      started = true
      for (const l of listeners()) await listen(l)
      logger.info({ addresses, credentials: Object.keys(config.credentials), upstreams: Object.keys(config.upstreams) },
        'tokenproxy listening')
      return addresses
    },
    async reload (next: Config) {
      const diff = diffConfig(config, next)
      for (const key of diff.restart) logger.warn({ key }, `${key} changed in the config: that takes a restart; the running ${key} stays`)
      // Unchanged credentials keep their objects (their Secrets, tokens and schedules); the rest come from `next`.
      const credentials = Object.fromEntries(Object.entries(next.credentials).map(([name, c]) =>
        [name, diff.credentials.unchanged.includes(name) ? config.credentials[name]! : c]))
      const effective: Config = { ...next, listen: config.listen, admin: config.admin, cache: config.cache, credentials }
      // New and changed credentials first (a changed one replaces its entry in place), then the
      // upstreams, then removals: no request finds its credential missing.
      for (const name of [...diff.credentials.added, ...diff.credentials.changed]) {
        const c = credentials[name]!
        await tokens.add(createCredential(c, deps), c.timeout, identityOf(c, credentials))
      }
      tokens.setRefresh(next.refresh)
      // TOKENPROXY_LOG_LEVEL wins over the file, on a reload as at start.
      if (!opts.env?.TOKENPROXY_LOG_LEVEL) logger.level = next.log.level
      secrets.stop()
      secrets = watchSecrets(effective)
      if (started) secrets.start()
      config = effective
      used = usedCredentials(config)
      await applyUpstreams(config)
      for (const name of diff.credentials.removed) await tokens.remove(name)
      if (!isEmpty(diff)) {
        const list = ({ added, changed, removed }: { added: string[], changed: string[], removed: string[] }): object => ({
          added,
          changed,
          removed,
        })
        logger.info({ credentials: list(diff.credentials), upstreams: list(diff.upstreams) }, 'config reloaded')
      } else {
        logger.info('config reloaded: nothing to change')
      }
      return diff
    },
    abort () {
      for (const l of listeners()) l.server.closeAllConnections()
    },
    async reloadFile (trigger) {
      await configWatch?.reload(trigger)
    },
    async close (graceMs = config.shutdownGrace * 1000) {
      state.closing = true
      const force = setTimeout(() => {
        logger.warn({ graceS: graceMs / 1000 }, 'shutdown grace period over; closing remaining connections')
        sidecar.abort()
      }, graceMs)
      force.unref()
      // A keep-alive connection whose in-flight response ends during shutdown must close, not idle out the grace.
      for (const l of listeners()) l.server.keepAliveTimeout = 1
      secrets.stop()
      configWatch?.stop()
      await Promise.all([proxies.close(), admin.app.close()])
      clearTimeout(force)
      await tokens.close()
      summary.close()
      if (started) logger.info('tokenproxy stopped')
    },
  }
  const configWatch: ConfigWatch | undefined = opts.configFile === undefined
    ? undefined
    : watchConfigFile({
      file: opts.configFile,
      env: opts.env ?? process.env,
      logger,
      metrics,
      intervalMs: opts.secretPollMs,
      apply: sidecar.reload,
    })
  return sidecar
}

/** The credentials some upstream uses: /readyz waits for these. */
function usedCredentials (config: Config): string[] {
  return [...new Set(Object.values(config.upstreams).map((u) => u.credential))]
}
