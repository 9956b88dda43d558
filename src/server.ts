// buildServer(config): the proxy listeners, the admin listener and the token manager; never listens.
import type { Socket } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { isLoopbackHost } from './config/checker.js'
import type { Config, UpstreamConfig } from './config/types.js'
import { createCredential } from './credentials/index.js'
import { ProxyError } from './errors.js'
import { buildAdmin } from './observability/health.js'
import { LogSummary } from './observability/log-summary.js'
import { openLogger, quietRequests } from './observability/logger.js'
import { createMetrics, methodLabel, type Metrics } from './observability/metrics.js'
import { logRequest, markRequestStart } from './proxy/access-log.js'
import { registerBodyHandling } from './proxy/body.js'
import { registerErrorHandling, sendProblem } from './proxy/error-handler.js'
import { CONNECT_REFUSAL, refuseClientError } from './proxy/raw-refusals.js'
import { checkHost, checkRequestTarget, mergeSlashes } from './proxy/request-guard.js'
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

/** A listener that could not bind: which one, where, and the config key that moves it. */
export class ListenError extends Error {
  readonly listener: string
  readonly address: string
  readonly code: string | undefined
  /** `listen.port`, `admin.port` or `upstreams.NAME.port`. */
  readonly key: string

  constructor (l: Listener, cause: unknown) {
    const code = (cause as { code?: unknown }).code
    const why = code === 'EADDRINUSE' ? 'the address is already in use (EADDRINUSE)' : code === 'EACCES' ? 'permission denied (EACCES)' : (cause as Error).message
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
  /** How often the files behind `{ file }` secrets are re-read (default 10 s). */
  secretPollMs?: number
  /** The interval over which repeated TOKEN_UNAVAILABLE warnings are summarised (default 10 s). */
  summaryIntervalMs?: number
}

interface ProxyAppDeps { logger: Logger, metrics: Metrics, summary: LogSummary, logRequests: boolean }

function proxyApp ({ logger, metrics, summary, logRequests }: ProxyAppDeps, prefixes: string[]): FastifyInstance {
  // A dedicated port's app has no prefixes: its access-log route is the port.
  const dedicated = prefixes.length === 0
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    ...quietRequests(),
    forceCloseConnections: 'idle',
    requestTimeout: 0,
    routerOptions: { maxParamLength: 8192 },
    rewriteUrl: (req) => mergeSlashes(req.url ?? ''),
    // A missing Host is refused by checkHost as problem+json, not by Node with a bare 400.
    http: { requireHostHeader: false },
    // Router-level refusals (undecodable %-escapes, say) would otherwise bypass the problem+json error handler.
    clientErrorHandler: refuseClientError,
    frameworkErrors: (err, request, reply) => { sendProblem(reply, new ProxyError('BAD_REQUEST', `the request was refused: ${err.message}`), request) },
  })
  app.server.on('connect', (_req, socket: Socket) => { socket.end(CONNECT_REFUSAL) })
  // Node answers an Expect other than 100-continue with a bare 417; RFC 9110 §10.1.1 lets a server ignore it instead.
  app.server.on('checkExpectation', (req, res) => { app.server.emit('request', req, res) })
  app.decorateRequest('tp', null)
  app.decorateRequest('tpSentBefore', 0)
  registerBodyHandling(app)
  registerErrorHandling(app, prefixes, summary)
  // Callback-style hooks: an async hook costs a promise per request for work that never waits.
  app.addHook('onRequest', (request, _reply, done) => {
    if (logRequests) markRequestStart(request)
    try {
      checkHost(request.raw.httpVersion, request.headers.host)
      checkRequestTarget(request.method, request.raw.url ?? '')
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
    if (logRequests) logRequest(logger, request, reply, dedicated)
    done()
  })
  return app
}

export async function buildServer (config: Config, opts: BuildOptions = {}): Promise<Sidecar> {
  const logger = opts.logger ?? await openLogger(config.log)
  const metrics = createMetrics()
  const summary = new LogSummary(logger, opts.summaryIntervalMs)
  const appDeps = { logger, metrics, summary, logRequests: config.log.requests }
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
  })
  // A rotated `{ file }` secret (a Kubernetes Secret volume update) gets its credential a new token with it.
  const secrets = watchSecretFiles(config.credentials, { logger, intervalMs: opts.secretPollMs, onChange: (name) => { void tokens.refresh(name) } })
  const routeDeps = { tokens, metrics }
  const listeners: Listener[] = []

  const prefixed = upstreams.filter((u): u is UpstreamConfig & { prefix: string } => u.prefix !== undefined)
  if (prefixed.length > 0) {
    const app = proxyApp(appDeps, prefixed.map((u) => u.prefix))
    for (const u of prefixed) await registerUpstream(app, u, u.prefix, routeDeps)
    listeners.push({ name: 'listen', app, ...config.listen })
  }
  for (const u of upstreams) {
    if (u.port === undefined) continue
    const app = proxyApp(appDeps, [])
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
        try {
          addresses[l.name] = await l.app.listen({ host: l.host, port: l.port })
        } catch (err) {
          throw new ListenError(l, err)
        }
      }
      logger.info({ addresses, credentials: Object.keys(config.credentials), upstreams: upstreams.map((u) => u.name) }, 'tokenproxy listening')
      return addresses
    },
    async close (graceMs = config.shutdownGrace * 1000) {
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
      summary.close()
      if (started) logger.info('tokenproxy stopped')
    },
  }
}
