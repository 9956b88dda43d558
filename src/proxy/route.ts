// One route per upstream: the token in preHandler, then forward() over the upstream's own undici pool.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Pool } from 'undici'
import type { UpstreamConfig } from '../config/types.js'
import type { Metrics } from '../observability/metrics.js'
import type { TokenInfo } from '../tokens/lifetime.js'
import type { TokenManager } from '../tokens/token-manager.js'
import { destinationFor, upstreamPath } from './destination.js'
import type { Forwarding } from './headers.js'
import { forward, type Exchange } from './retry.js'

/** What a proxied request carries from its route to the end of its exchange (the listener's onResponse hook). */
export interface ProxyContext {
  upstream: UpstreamConfig
  token?: TokenInfo
  replayed: boolean
  /** Held from each send until the upstream's response headers: bounds the wait for a connection, connect, TLS and answer. */
  timer?: NodeJS.Timeout
}

declare module 'fastify' {
  interface FastifyRequest { tp: ProxyContext | null }
}

export interface RouteDeps {
  tokens: TokenManager
  metrics: Metrics
}

/** The methods a route proxies; any other gets NO_ROUTE. */
const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS']

/** Registers `upstream` on `app`, under its prefix (shared listener) or at the root (dedicated port). */
export async function registerUpstream (app: FastifyInstance, upstream: UpstreamConfig, prefix: string, deps: RouteDeps): Promise<void> {
  const { tokens } = deps
  const destination = destinationFor(prefix, upstream.target)
  const pool = new Pool(destination.origin, {
    pipelining: 1,
    connections: upstream.connections,
    headersTimeout: upstream.timeout * 1000,
    bodyTimeout: Math.max(upstream.timeout, 300) * 1000,
    keepAliveTimeout: 4000,
    // Verify, with the private CA if set; connect + TLS handshake within the timeout too (undici's own default is 10 s).
    connect: { rejectUnauthorized: true, timeout: upstream.timeout * 1000, ...(upstream.ca === undefined ? {} : { ca: upstream.ca }) },
  })
  // The app's close (a stop, or a reload retiring it) also closes the upstream connections, and with
  // them any request still waiting: nothing is left to hold the process open.
  app.addHook('onClose', async () => { await pool.destroy() })
  const forwardingAsIs: Forwarding = { mode: upstream.forwarded, methodOverride: upstream.methodOverride }
  const x: Exchange = {
    upstream,
    ...deps,
    pool,
    destination,
    forwarding: upstream.forwarded === 'set'
      ? (request) => ({
          mode: 'set',
          methodOverride: upstream.methodOverride,
          clientIp: request.socket.remoteAddress,
          host: request.headers.host,
          prefix,
        })
      : () => forwardingAsIs,
  }

  /** Callback style, not async: with a usable token (nearly always) no promise is made per request. */
  function preHandler (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
    const ctx: ProxyContext = { upstream, replayed: false }
    request.tp = ctx
    ctx.token = tokens.usable(upstream.credential)
    if (ctx.token !== undefined) {
      done()
      return
    }
    tokens.get(upstream.credential).then((token) => { ctx.token = token; done() }, done)
  }

  function handler (request: FastifyRequest, reply: FastifyReply): FastifyReply {
    let path: string
    try {
      path = upstreamPath(destination, request.url)
    } catch (err) {
      return reply.send(err)
    }
    forward(request, reply, path, x)
    return reply
  }

  // As a plugin under the prefix: `/registry`, `/registry/` and everything below it.
  await app.register(async (scope) => {
    for (const url of ['/', '/*']) scope.route({ url, method: METHODS, preHandler, handler })
  }, { prefix })
}
