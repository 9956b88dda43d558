// buildServer(config): the proxy listeners, the admin listener and the token manager; never listens.
import type { Socket } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { isLoopbackHost } from './config/checker.js'
import type { Config, ListenConfig, UpstreamConfig } from './config/types.js'
import type { WindowLimit } from './credentials/attempt-window.js'
import { createCredential } from './credentials/index.js'
import { ProxyError } from './errors.js'
import { buildAdmin } from './observability/health.js'
import { createLogger, quietRequests } from './observability/logger.js'
import { createMetrics, methodLabel, type Metrics } from './observability/metrics.js'
import { registerBodyHandling, ReplayBudget } from './proxy/body.js'
import { registerErrorHandling, sendProblem } from './proxy/error-handler.js'
import { CONNECT_REFUSAL, refuseClientError } from './proxy/raw-refusals.js'
import { checkHost, checkRequestTarget, checkTransferEncoding } from './proxy/request-guard.js'
import { registerUpstream } from './proxy/routes.js'
import type { BackoffOptions } from './tokens/backoff.js'
import { watchSecretFiles } from './tokens/secret-watch.js'
import { TokenManager } from './tokens/token-manager.js'

export interface Listener {
  /** `listen`, `admin`, or `upstreams.NAME` for a dedicated port. */
  name: string
  app: FastifyInstance
  host: string
  port: number
}

export interface Sidecar {
  config: Config
  logger: Logger
  metrics: Metrics
  tokens: TokenManager
  listeners: Listener[]
  /** Bound base URLs by listener name, filled in by start(). */
  addresses: Record<string, string>
  /** Starts fetching tokens and listens everywhere; returns the bound addresses by listener name. */
  start (): Promise<Record<string, string>>
  /** Stops accepting, lets in-flight requests finish up to `graceMs`, then closes the rest. */
  close (graceMs?: number): Promise<void>
}

export interface BuildOptions {
  logger?: Logger
  backoff?: BackoffOptions
  now?: () => number
  random?: () => number
  /** How often the files behind `{ file }` secrets are re-read (default 10 s). */
  secretPollMs?: number
  /** Floor on 401-triggered token fetches per credential (default one per 10 s). */
  refetchLimit?: WindowLimit
}

/** How often Node checks connections against headersTimeout (its default, 30 s, would hold a silent one that much longer). */
const CONNECTIONS_CHECK_MS = 1000

/** Set when shutdown starts: requests still arriving on open connections (pipelined, say) get SHUTTING_DOWN. */
interface RunState { closing: boolean }

function proxyApp (logger: Logger, metrics: Metrics, prefixes: string[], limits: ListenConfig, budget: ReplayBudget, state: RunState): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    ...quietRequests(),
    forceCloseConnections: 'idle',
    // Fastify's own 503 while closing is plain JSON; the onRequest hook answers problem+json instead.
    return503OnClosing: false,
    // No bound on a whole request (a long upload is fine); headers and each stretch of the body are bounded.
    requestTimeout: 0,
    keepAliveTimeout: limits.idleTimeout * 1000,
    routerOptions: { maxParamLength: 8192 },
    // A missing Host is refused by checkHost as problem+json, not by Node with a bare 400.
    http: { requireHostHeader: false, headersTimeout: limits.headersTimeout * 1000, connectionsCheckingInterval: CONNECTIONS_CHECK_MS },
    // Router-level refusals (undecodable %-escapes, say) would otherwise bypass the problem+json error handler.
    clientErrorHandler: refuseClientError,
    frameworkErrors: (err, request, reply) => { sendProblem(reply, new ProxyError('BAD_REQUEST', `the request was refused: ${err.message}`), request) },
  })
  app.server.on('connect', (_req, socket: Socket) => { socket.end(CONNECT_REFUSAL) })
  // Node answers an Expect other than 100-continue with a bare 417; RFC 9110 §10.1.1 lets a server ignore it instead.
  app.server.on('checkExpectation', (req, res) => { app.server.emit('request', req, res) })
  app.decorateRequest('tp', null)
  registerBodyHandling(app, { budget, idleTimeoutMs: limits.bodyTimeout * 1000 })
  registerErrorHandling(app, prefixes)
  // Callback-style hooks: an async hook costs a promise per request for work that never waits.
  app.addHook('onRequest', (request, _reply, done) => {
    if (state.closing) {
      done(new ProxyError('SHUTTING_DOWN', 'tokenproxy is shutting down; retry the request (another instance, or this one once restarted)', {}, { retryAfter: 1 }))
      return
    }
    try {
      checkHost(request.raw.httpVersion, request.headers.host)
      checkRequestTarget(request.method, request.raw.url ?? '')
      checkTransferEncoding(request.headers['transfer-encoding'])
    } catch (err) {
      done(err as Error)
      return
    }
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    const upstream = request.tp?.upstream.name ?? 'none'
    metrics.requests.inc({ upstream, method: methodLabel(request.method), code: String(reply.statusCode) })
    if (request.tp !== null) metrics.requestDuration.observe({ upstream }, reply.elapsedTime / 1000)
    done()
  })
  return app
}

export async function buildServer (config: Config, opts: BuildOptions = {}): Promise<Sidecar> {
  const logger = opts.logger ?? createLogger(config.log.level)
  const metrics = createMetrics()
  const upstreams = Object.values(config.upstreams)
  const used = [...new Set(upstreams.map((u) => u.credential))]
  // Chained credentials (a wallet logging in with a Keycloak token) ask the manager for that token.
  const deps = { tokenFor: async (name: string) => (await tokens.get(name)).token }
  const tokens: TokenManager = new TokenManager({
    credentials: Object.values(config.credentials).map((c) => ({ credential: createCredential(c, deps), timeoutSeconds: c.timeout })),
    refresh: config.refresh,
    logger,
    metrics,
    backoff: opts.backoff,
    now: opts.now,
    random: opts.random,
    refetchLimit: opts.refetchLimit,
  })
  // A rotated `{ file }` secret (a Kubernetes Secret volume update) gets its credential a new token with it.
  const secrets = watchSecretFiles(config.credentials, { logger, intervalMs: opts.secretPollMs, onChange: (name) => { void tokens.refresh(name) } })
  const routeDeps = { tokens, metrics }
  const listeners: Listener[] = []
  // One budget for every proxy listener: it bounds the memory that bodies kept for a replay take.
  const budget = new ReplayBudget(config.listen.replayBudget)
  const state: RunState = { closing: false }

  const prefixed = upstreams.filter((u): u is UpstreamConfig & { prefix: string } => u.prefix !== undefined)
  if (prefixed.length > 0) {
    const app = proxyApp(logger, metrics, prefixed.map((u) => u.prefix), config.listen, budget, state)
    for (const u of prefixed) await registerUpstream(app, u, u.prefix, routeDeps)
    listeners.push({ name: 'listen', app, host: config.listen.host, port: config.listen.port })
  }
  for (const u of upstreams) {
    if (u.port === undefined) continue
    const app = proxyApp(logger, metrics, [], config.listen, budget, state)
    await registerUpstream(app, u, '', routeDeps)
    listeners.push({ name: `upstreams.${u.name}`, app, host: config.listen.host, port: u.port })
  }
  listeners.push({ name: 'admin', app: buildAdmin({ tokens, metrics, usedCredentials: used, logger }), ...config.admin })

  let started = false
  const addresses: Record<string, string> = {}
  return {
    config, logger, metrics, tokens, listeners, addresses,
    async start () {
      tokens.start()
      secrets.start()
      started = true
      for (const l of listeners) {
        if (!isLoopbackHost(l.host)) {
          logger.warn({ listener: l.name, host: l.host }, `${l.name} listens on ${l.host}, which is reachable from other machines; anyone who reaches it uses tokenproxy's credentials`)
        }
        addresses[l.name] = await l.app.listen({ host: l.host, port: l.port })
      }
      logger.info({ addresses, credentials: Object.keys(config.credentials), upstreams: upstreams.map((u) => u.name) }, 'tokenproxy listening')
      return addresses
    },
    async close (graceMs = config.shutdownGrace * 1000) {
      state.closing = true
      const force = setTimeout(() => {
        logger.warn({ graceS: graceMs / 1000 }, 'shutdown grace period over; closing remaining connections')
        for (const l of listeners) l.app.server.closeAllConnections()
      }, graceMs)
      force.unref()
      // A keep-alive connection whose in-flight response ends during shutdown must close, not idle out the grace.
      for (const l of listeners) l.app.server.keepAliveTimeout = 1
      secrets.stop()
      await Promise.all(listeners.map((l) => l.app.close()))
      clearTimeout(force)
      await tokens.close()
      if (started) logger.info('tokenproxy stopped')
    },
  }
}
