// A proxy listener: one node:http server that keeps its sockets while the Fastify app behind it is replaced (config reload).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { ListenConfig, UpstreamConfig } from '../config/types.js'
import { ProxyError } from '../errors.js'
import type { LogSummary } from '../observability/log-summary.js'
import { quietRequests } from '../observability/logger.js'
import { methodLabel, type Metrics } from '../observability/metrics.js'
import { logRequest, markRequestStart } from './access-log.js'
import { registerBodyHandling, STREAM_BUFFER_BYTES, type ReplayBudget } from './body.js'
import { registerErrorHandling, sendProblem } from './error-handler.js'
import { CONNECT_REFUSAL, refuseClientError } from './raw-refusals.js'
import { checkHost, checkRequestTarget, checkTransferEncoding, mergeSlashes } from './request-guard.js'
import { registerUpstream, type RouteDeps } from './route.js'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** How often Node checks connections against headersTimeout (its default, 30 s, would hold a silent one that much longer). */
const CONNECTIONS_CHECK_MS = 1000

/** Set when shutdown starts: requests still arriving on open connections (pipelined, say) get SHUTTING_DOWN. */
export interface RunState { closing: boolean }

/** One Fastify app for proxy traffic, and how many requests it is still answering. */
interface Generation { app: FastifyInstance, handler: Handler, inflight: number, drained?: () => void }

/**
 * Builds the Fastify app for `upstreams` (under their prefixes, or at the root for a dedicated
 * port). It never listens: its handler is given to a ProxyListener's server.
 */
async function proxyApp (opts: ProxyListenerOptions, upstreams: UpstreamConfig[]): Promise<Generation> {
  const { logger, metrics, summary, atRoot, deps, limits, budget, state } = opts
  const logRequests = opts.logRequests()
  let handler: Handler | undefined
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    ...quietRequests(),
    // Fastify's own 503 while closing is plain JSON; the onRequest hook answers problem+json instead.
    return503OnClosing: false,
    routerOptions: { maxParamLength: 8192 },
    rewriteUrl: (req) => mergeSlashes(req.url ?? ''),
    // The app never listens: its handler serves the listener's own server, which outlives it.
    serverFactory: (h) => { handler = h; return createServer() },
    // Router-level refusals (undecodable %-escapes, say) would otherwise bypass the problem+json error handler.
    frameworkErrors: (err, request, reply) => {
      sendProblem(reply, new ProxyError('BAD_REQUEST', `the request was refused: ${err.message}`),
        request)
    },
  })
  app.decorateRequest('tp', null)
  app.decorateRequest('tpSentBefore', 0)
  registerBodyHandling(app, { budget, idleTimeoutMs: limits.bodyTimeout * 1000 })
  registerErrorHandling(app, atRoot ? [] : upstreams.map((u) => u.prefix!), summary)
  // Callback-style hooks: an async hook costs a promise per request for work that never waits.
  app.addHook('onRequest', (request, _reply, done) => {
    if (logRequests) markRequestStart(request)
    if (state.closing) {
      done(new ProxyError('SHUTTING_DOWN', 'tokenproxy is shutting down; retry the request (another instance, or this one once restarted)',
        {}, { retryAfter: 1 }))
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
    // A dedicated port's app has no prefixes: its access-log route is the port.
    if (logRequests) logRequest(logger, request, reply, atRoot)
    done()
  })
  for (const u of upstreams) await registerUpstream(app, u, atRoot ? '' : u.prefix!, deps)
  await app.ready()
  return { app, handler: handler!, inflight: 0 }
}

export interface ProxyListenerOptions {
  /** `listen`, or `upstreams.NAME` for a dedicated port. */
  name: string
  host: string
  port: number
  logger: Logger
  metrics: Metrics
  summary: LogSummary
  /** One access-log line per request (`log.requests`), as the config in effect says when an app is built. */
  logRequests: () => boolean
  deps: RouteDeps
  /** Dedicated port: its one upstream at the root; the shared listener: every upstream under its prefix. */
  atRoot: boolean
  /** What every proxy listener bounds: headers, body and idle timeouts, the replay budget's size. */
  limits: ListenConfig
  /** Shared by every proxy listener and every app a reload builds. */
  budget: ReplayBudget
  state: RunState
}

export class ProxyListener {
  readonly server: Server
  readonly name: string
  readonly host: string
  readonly port: number
  #current: Generation | undefined
  readonly #opts: ProxyListenerOptions

  private constructor (opts: ProxyListenerOptions) {
    this.#opts = opts
    this.name = opts.name
    this.host = opts.host
    this.port = opts.port
    // A missing Host is refused by checkHost as problem+json, not by Node with a bare 400.
    this.server = createServer({
      requireHostHeader: false,
      headersTimeout: opts.limits.headersTimeout * 1000,
      connectionsCheckingInterval: CONNECTIONS_CHECK_MS,
      // No bound on a whole request (a long upload is fine); headers and each stretch of the body are bounded.
      requestTimeout: 0,
      keepAliveTimeout: opts.limits.idleTimeout * 1000,
      highWaterMark: STREAM_BUFFER_BYTES,
    }, (req, res) => { this.#dispatch(req, res) })
    this.server.on('clientError', refuseClientError)
    this.server.on('connect', (_req, socket: Socket) => { socket.end(CONNECT_REFUSAL) })
    // Node answers an Expect other than 100-continue with a bare 417; RFC 9110 §10.1.1 lets a server ignore it instead.
    this.server.on('checkExpectation', (req, res) => { this.#dispatch(req, res) })
  }

  static async create (opts: ProxyListenerOptions, upstreams: UpstreamConfig[]): Promise<ProxyListener> {
    const l = new ProxyListener(opts)
    await l.serve(upstreams)
    return l
  }

  /** The app answering new requests now. */
  get app (): FastifyInstance {
    return this.#current!.app
  }

  /**
   * Builds and readies an app for `upstreams`, then gives it every new request. The app it
   * replaces finishes the requests it has (on the routes they started on), then closes.
   */
  async serve (upstreams: UpstreamConfig[]): Promise<void> {
    const next = await proxyApp(this.#opts, upstreams)
    const old = this.#current
    this.#current = next
    if (old !== undefined) void this.#retire(old)
  }

  #dispatch (req: IncomingMessage, res: ServerResponse): void {
    const gen = this.#current!
    gen.inflight++
    res.once('close', () => {
      if (--gen.inflight === 0) gen.drained?.()
    })
    gen.handler(req, res)
  }

  async #retire (gen: Generation): Promise<void> {
    if (gen.inflight > 0) await new Promise<void>((resolve) => { gen.drained = resolve })
    await gen.app.close()
  }

  /** Resolves with the bound base URL. */
  async listen (): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => { reject(err) }
      this.server.once('error', fail)
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', fail)
        resolve()
      })
    })
    const { address, port } = this.server.address() as { address: string, port: number }
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  }

  /** Stops accepting and waits for in-flight requests; idle keep-alive connections close at once. */
  async close (): Promise<void> {
    const gen = this.#current!
    if (this.server.listening) {
      const closed = new Promise<void>((resolve) => this.server.close(() => { resolve() }))
      this.server.closeIdleConnections()
      await closed
    }
    await gen.app.close()
  }
}
