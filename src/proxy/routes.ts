// One @fastify/http-proxy route per upstream: token in preHandler, headers rewritten, one replay on 401.
import proxy from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { UpstreamConfig } from '../config/types.js'
import { ProxyError } from '../errors.js'
import type { Metrics } from '../observability/metrics.js'
import type { TokenManager } from '../tokens/token-manager.js'
import type { TokenInfo } from '../tokens/lifetime.js'
import { onBodyProgress, rewindBody, waitsForClient } from './body.js'
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js'

/** What a proxied request carries between hooks. */
export interface ProxyContext {
  upstream: UpstreamConfig
  token?: TokenInfo
  replayed: boolean
  dest?: string
  options?: object
  /** Held from each send until the upstream's response headers: bounds the wait for a connection, connect, TLS and answer. */
  timer?: NodeJS.Timeout
  /** The client already got UPSTREAM_TIMEOUT; whatever the upstream sends later is dropped. */
  timedOut?: boolean
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

/** A ProxyError of tokenproxy's own somewhere in an error's cause chain (reply-from and undici wrap what they get). */
function ownError (error: unknown): ProxyError | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ProxyError) return e
  }
  return undefined
}

/** Registers `upstream` on `app`, under its prefix (shared listener) or at the root (dedicated port). */
export async function registerUpstream (app: FastifyInstance, upstream: UpstreamConfig, prefix: string, deps: RouteDeps): Promise<void> {
  const { tokens, metrics } = deps
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

  /**
   * undici times only the headers once a request is on a socket: a request queued behind busy
   * connections, or a TLS handshake that never completes, would wait on. This timer bounds it all,
   * restarted by each body chunk forwarded (a long upload is progress, not a stall); while the
   * client is slow to send its body, the body's own idle timeout rules instead.
   */
  function startTimer (request: FastifyRequest, reply: FastifyReply): void {
    const ctx = request.tp!
    clearTimeout(ctx.timer)
    ctx.timer = setTimeout(() => {
      // The client is still sending its body at its own pace: that wait is listen.bodyTimeout's to bound.
      if (waitsForClient(request)) {
        ctx.timer?.refresh()
        return
      }
      ctx.timedOut = true
      // A body stream destroyed now fails the upstream request whenever undici gets to it.
      ;(request.body as { destroy?: () => void } | undefined)?.destroy?.()
      reply.send(new ProxyError('UPSTREAM_TIMEOUT',
        `upstream "${upstream.name}" did not answer within ${upstream.timeout}s (waiting for a connection, connecting, TLS handshake and response headers)`,
        { upstream: upstream.name }))
    }, upstream.timeout * 1000)
    // A timer left by an exchange that ended another way must not hold a stopping process open.
    ctx.timer.unref()
    onBodyProgress(request, () => { ctx.timer?.refresh() })
  }

  function send (request: FastifyRequest, reply: FastifyReply): void {
    const ctx = request.tp!
    startTimer(request, reply)
    reply.from(ctx.dest!, ctx.options as Parameters<FastifyReply['from']>[1])
  }

  /** Upstream 401: drop the token (if still current), fetch a fresh one, replay once. */
  async function replay (request: FastifyRequest, reply: FastifyReply, res: UpstreamResponse): Promise<void> {
    const ctx = request.tp!
    const refused = ctx.token!
    // A fresh token refused again means the upstream objects to something else: keep it.
    // No replay either when the refetch floor kept the refused token: it would only be refused again.
    const fresh = !ctx.replayed && tokens.invalidate(upstream.credential, refused.token)
    if (!fresh || !rewindBody(request)) {
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
      connections: upstream.connections,
      // reply-from defaults to tls.rejectUnauthorized: false; `connect` wins over it: verify, with the private CA if set.
      // Connect + TLS handshake within the timeout too (undici's own default is 10 s).
      connect: { rejectUnauthorized: true, timeout: upstream.timeout * 1000, ...(upstream.ca === undefined ? {} : { ca: upstream.ca }) },
    },
    preHandler,
    handler (request: FastifyRequest, reply: FastifyReply, dest: string, options: object) {
      const ctx = request.tp!
      // Exactly the prefix plus a query (/regards?x) on a target without a base path comes as '': reply-from would then send the client's own path.
      ctx.dest = dest === '' ? '/' : dest
      ctx.options = options
      send(request, reply)
      return reply
    },
    replyOptions: {
      // reply-from would silently retry a GET that got 503 up to 10 times; the upstream's answer goes back as is.
      retryDelay: () => null,
      rewriteRequestHeaders (request, headers) {
        const forwarding = upstream.forwarded === 'set'
          ? { mode: 'set' as const, methodOverride: upstream.methodOverride, clientIp: request.socket.remoteAddress, host: request.headers.host, prefix }
          : forwardingAsIs
        return upstreamRequestHeaders(headers, request.headers, request.tp!.token!.token, forwarding)
      },
      rewriteHeaders (headers) {
        return clientResponseHeaders(headers)
      },
      onResponse (request, reply, res) {
        const r = res as unknown as UpstreamResponse
        const ctx = (request as FastifyRequest).tp!
        clearTimeout(ctx.timer)
        if (ctx.timedOut === true) {
          r.stream.destroy()
          return
        }
        if (r.statusCode === 401) {
          replay(request as FastifyRequest, reply as FastifyReply, r).catch((err: unknown) => reply.send(err))
          return
        }
        reply.send(r.stream)
      },
      onError (reply, { error }) {
        const ctx = (reply.request as FastifyRequest).tp!
        clearTimeout(ctx.timer)
        if (ctx.timedOut === true) return
        // The client's body failed the upstream request (it stalled: 408): that is the client's answer.
        const own = ownError(error)
        if (own !== undefined) {
          reply.send(own)
          return
        }
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
