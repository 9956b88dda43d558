// One @fastify/http-proxy route per upstream: token in preHandler, headers rewritten, one replay on 401.
import proxy from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { UpstreamConfig } from '../config/types.js'
import { ProxyError } from '../errors.js'
import type { Metrics } from '../observability/metrics.js'
import type { TokenManager } from '../tokens/token-manager.js'
import type { TokenInfo } from '../tokens/lifetime.js'
import { rewindBody } from './body.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'

/** What a proxied request carries between hooks. */
export interface ProxyContext {
  upstream: UpstreamConfig
  token?: TokenInfo
  replayed: boolean
  dest?: string
  options?: object
}

declare module 'fastify' {
  interface FastifyRequest { tp: ProxyContext | null }
}

interface UpstreamResponse {
  statusCode: number
  headers: Record<string, unknown>
  stream: NodeJS.ReadableStream & { resume (): void, destroy (): void }
}

export interface RouteDeps {
  tokens: TokenManager
  metrics: Metrics
}

/** Registers `upstream` on `app`, under its prefix (shared listener) or at the root (dedicated port). */
export async function registerUpstream (app: FastifyInstance, upstream: UpstreamConfig, prefix: string, deps: RouteDeps): Promise<void> {
  const { tokens, metrics } = deps

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

  function send (request: FastifyRequest, reply: FastifyReply): void {
    const ctx = request.tp!
    reply.from(ctx.dest!, ctx.options as Parameters<FastifyReply['from']>[1])
  }

  /** Upstream 401: drop the token (if still current), fetch a fresh one, replay once. */
  async function replay (request: FastifyRequest, reply: FastifyReply, res: UpstreamResponse): Promise<void> {
    const ctx = request.tp!
    const refused = ctx.token!
    // A fresh token refused again means the upstream objects to something else: keep it.
    if (!ctx.replayed) tokens.invalidate(upstream.credential, refused.token)
    if (ctx.replayed || !rewindBody(request)) {
      reply.send(res.stream)
      return
    }
    ctx.replayed = true
    res.stream.resume()
    metrics.authRetries.inc({ upstream: upstream.name })
    ctx.token = await tokens.get(upstream.credential)
    for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
    request.log.debug({ upstream: upstream.name, refused: refused.fingerprint, fresh: ctx.token.fingerprint }, 'replaying after upstream 401')
    send(request, reply)
  }

  await app.register(proxy, {
    upstream: upstream.target,
    prefix,
    disableRequestLogging: true,
    proxyPayloads: false,
    undici: {
      headersTimeout: upstream.timeout * 1000,
      bodyTimeout: Math.max(upstream.timeout, 300) * 1000,
      keepAliveTimeout: 4000,
      // reply-from defaults to tls.rejectUnauthorized: false; `connect` wins over it: verify, with the private CA if set.
      connect: { rejectUnauthorized: true, ...(upstream.ca === undefined ? {} : { ca: upstream.ca }) },
    },
    preHandler,
    handler (request: FastifyRequest, reply: FastifyReply, dest: string, options: object) {
      const ctx = request.tp!
      // Exactly the prefix plus a query (/regards?x) on a target without a base path comes as '': reply-from would then send the client's own path.
      ctx.dest = dest === '' ? '/' : dest
      ctx.options = options
      return reply.from(ctx.dest, options as Parameters<FastifyReply['from']>[1])
    },
    replyOptions: {
      // reply-from would silently retry a GET that got 503 up to 10 times; the upstream's answer goes back as is.
      retryDelay: () => null,
      rewriteRequestHeaders (request, headers) {
        return upstreamRequestHeaders(headers, request.headers, request.tp!.token!.token)
      },
      rewriteHeaders (headers) {
        return clientResponseHeaders(headers)
      },
      onResponse (request, reply, res) {
        const r = res as unknown as UpstreamResponse
        if (r.statusCode === 401) {
          replay(request as FastifyRequest, reply as FastifyReply, r).catch((err: unknown) => reply.send(err))
          return
        }
        reply.send(r.stream)
      },
      onError (reply, { error }) {
        const err = error as Error & { statusCode?: number, cause?: { code?: string } }
        const timedOut = err.statusCode === 504
        const code = err.cause?.code ?? (err as { code?: string }).code
        reply.send(new ProxyError(
          timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNREACHABLE',
          timedOut
            ? `upstream "${upstream.name}" sent no response headers within ${upstream.timeout}s`
            : `upstream "${upstream.name}" could not be reached${code ? ` (${code})` : ''}`,
          { upstream: upstream.name },
          { cause: error },
        ))
      },
    },
  } as Parameters<typeof proxy>[1])
}
