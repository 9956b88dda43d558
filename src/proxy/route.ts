// One @fastify/http-proxy route per upstream: the token in preHandler, the request's headers rewritten, then forward().
import proxy from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { UpstreamConfig } from '../config/types.js'
import type { Metrics } from '../observability/metrics.js'
import type { TokenInfo } from '../tokens/lifetime.js'
import type { TokenManager } from '../tokens/token-manager.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'
import { forward, type FromOptions } from './retry.js'

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

/** Registers `upstream` on `app`, under its prefix (shared listener) or at the root (dedicated port). */
export async function registerUpstream (app: FastifyInstance, upstream: UpstreamConfig, prefix: string, deps: RouteDeps): Promise<void> {
  const { tokens } = deps
  const exchange = { upstream, ...deps }
  const forwardingAsIs = { mode: upstream.forwarded, methodOverride: upstream.methodOverride }

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

  await app.register(proxy, {
    upstream: upstream.target,
    prefix,
    disableRequestLogging: true,
    proxyPayloads: false,
    // The app's close (a stop, or a reload retiring it) also closes its upstream connections, and with
    // them any request still waiting: nothing is left to hold the process open.
    destroyAgent: true,
    undici: {
      headersTimeout: upstream.timeout * 1000,
      bodyTimeout: Math.max(upstream.timeout, 300) * 1000,
      keepAliveTimeout: 4000,
      connections: upstream.connections,
      // reply-from defaults to tls.rejectUnauthorized: false; `connect` wins over it: verify, with the private CA if set.
      // Connect + TLS handshake within the timeout too (undici's own default is 10 s).
      connect: { rejectUnauthorized: true, timeout: upstream.timeout * 1000, ...(upstream.ca === undefined ? {} : { ca: upstream.ca }) },
    },
    preHandler,
    handler (request: FastifyRequest, reply: FastifyReply, dest: string, options: FromOptions) {
      // Exactly the prefix plus a query (/regards?x) on a target without a base path comes as '': reply-from would
      // then send the client's own path.
      forward(request, reply, dest === '' ? '/' : dest, options, exchange).catch((err: unknown) => reply.send(err))
      return reply
    },
    replyOptions: {
      // reply-from would silently retry a GET that got 503 up to 10 times; the upstream's answer goes back as is.
      retryDelay: () => null,
      rewriteRequestHeaders (request, headers) {
        const forwarding = upstream.forwarded === 'set'
          ? {
              mode: 'set' as const,
              methodOverride: upstream.methodOverride,
              clientIp: request.socket.remoteAddress,
              host: request.headers.host,
              prefix,
            }
          : forwardingAsIs
        return upstreamRequestHeaders(headers, request.headers, request.tp!.token!.token, forwarding)
      },
      rewriteHeaders (headers) {
        return clientResponseHeaders(headers)
      },
    },
  } as Parameters<typeof proxy>[1])
}
