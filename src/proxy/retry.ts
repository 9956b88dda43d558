// The exchange with the upstream: one undici dispatch per attempt, the answer streamed to the client, one replay after a 401.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import type { UpstreamConfig } from '../config/types.js'
import { ProxyError } from '../errors.js'
import type { Metrics } from '../observability/metrics.js'
import type { TokenManager } from '../tokens/token-manager.js'
import { onBodyProgress, rewindBody, waitsForClient } from './body.js'
import type { Destination } from './destination.js'
import { clientLocation, clientResponseHeaders, sanitizeHeaderValues, upstreamRequestHeaders, type Forwarding } from './headers.js'

export interface Exchange {
  upstream: UpstreamConfig
  tokens: TokenManager
  metrics: Metrics
  /** The upstream's connection pool (one per route and app). */
  pool: Dispatcher
  /** The route's prefix, the target's base path and host: for the Host and Location headers. */
  destination: Destination
  forwarding: (request: FastifyRequest) => Forwarding
}

/** A ProxyError of tokenproxy's own somewhere in an error's cause chain (undici wraps what a body stream fails with). */
function ownError (error: unknown): ProxyError | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ProxyError) return e
  }
  return undefined
}

/** One shared reason: an Error made per request (its stack trace captured) cost more than the rest of the close handler. */
const CLIENT_GONE = new Error('the client closed the connection')

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])

/** The client's answer when the upstream gave none. */
function upstreamFailure (error: unknown, upstream: UpstreamConfig): ProxyError {
  // The client's body failed the upstream request (it stalled: 408): that is the client's answer.
  const own = ownError(error)
  if (own !== undefined) return own
  const err = error as Error & { code?: string, cause?: { code?: string } }
  const code = err.code ?? err.cause?.code
  const timedOut = code !== undefined && TIMEOUT_CODES.has(code)
  return new ProxyError(
    timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNREACHABLE',
    timedOut
      ? `upstream "${upstream.name}" sent no response headers within ${upstream.timeout}s`
      : `upstream "${upstream.name}" could not be reached${code ? ` (${code})` : ''}`,
    { upstream: upstream.name },
    { cause: error }
  )
}

/** What an attempt reports to its exchange. */
interface AttemptEvents {
  /** Status and headers arrived: stream them (`attempt.stream`), or not (the body is then read and dropped). */
  answered (attempt: Attempt, status: number, headers: IncomingHttpHeaders): void
  /** No answer: the upstream could not be reached, failed, or the request body failed. */
  failed (error: unknown): void
  /** The answer broke off after its headers went to the client. */
  cut (error: Error): void
}

/** One send to the upstream, as an undici dispatch handler. */
class Attempt implements Dispatcher.DispatchHandler {
  #controller: Dispatcher.DispatchController | undefined
  #abortReason: Error | undefined
  /** Answered, failed, or given up (timeout, client gone): later events of the request are dropped. */
  #settled = false
  #ended = false
  #res: ServerResponse | undefined

  constructor (private readonly events: AttemptEvents) {}

  /** Stops the request, whether it is on a socket yet or still waits for one. */
  abort (reason: Error): void {
    this.#settled = true
    if (this.#ended) return
    this.#ended = true
    if (this.#controller === undefined) this.#abortReason = reason
    else this.#controller.abort(reason)
  }

  /** Sends the answer to the client: status and headers now, the body as it comes, at the client's pace. */
  stream (res: ServerResponse, status: number, headers: OutgoingHttpHeaders): void {
    res.writeHead(status, headers)
    this.#res = res
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason)
  }

  onResponseStart (controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    // 1xx informational answers (103 Early Hints) are not the answer.
    if (status < 200) return
    if (this.#settled) {
      controller.abort(new Error('the answer came after the exchange had ended'))
      return
    }
    this.#settled = true
    this.events.answered(this, status, headers)
  }

  onResponseData (controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.#res
    if (res === undefined) return
    // Back-pressure: stop reading the upstream while the client is not taking the body.
    if (!res.write(chunk) && !controller.paused) {
      controller.pause()
      res.once('drain', () => { controller.resume() })
    }
  }

  onResponseEnd (): void {
    this.#ended = true
    this.#res?.end()
  }

  onResponseError (_controller: Dispatcher.DispatchController, error: Error): void {
    const ended = this.#ended
    this.#ended = true
    if (this.#res !== undefined) {
      if (!ended) this.events.cut(error)
      return
    }
    if (this.#settled) return
    this.#settled = true
    this.events.failed(error)
  }
}

/**
 * undici times only the headers once a request is on a socket: a request queued behind busy
 * connections, or a TLS handshake that never completes, would wait on. This timer bounds it all,
 * restarted by each body chunk forwarded (a long upload is progress, not a stall); while the
 * client is slow to send its body, the body's own idle timeout rules instead.
 */
function startTimer (request: FastifyRequest, reply: FastifyReply, upstream: UpstreamConfig, onTimeout: () => void): void {
  const ctx = request.tp!
  clearTimeout(ctx.timer)
  ctx.timer = setTimeout(() => {
    // The client is still sending its body at its own pace: that wait is listen.bodyTimeout's to bound.
    if (waitsForClient(request)) {
      ctx.timer?.refresh()
      return
    }
    const error = new ProxyError('UPSTREAM_TIMEOUT',
      `upstream "${upstream.name}" did not answer within ${upstream.timeout}s ` +
        '(waiting for a connection, connecting, TLS handshake and response headers)',
      { upstream: upstream.name })
    onTimeout()
    reply.send(error)
  }, upstream.timeout * 1000)
  // A timer left by an exchange that ended another way must not hold a stopping process open.
  ctx.timer.unref()
  onBodyProgress(request, () => { ctx.timer?.refresh() })
}

/** Node refused the upstream's headers as they were (an invalid character): once more without the invalid characters. */
function writeHeadTolerant (attempt: Attempt, res: ServerResponse, status: number, headers: IncomingHttpHeaders): void {
  try {
    attempt.stream(res, status, headers)
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_INVALID_CHAR') throw err
    sanitizeHeaderValues(headers)
    attempt.stream(res, status, headers)
  }
}

/**
 * Sends the request to the upstream (at `path`) and the upstream's answer to the client. An
 * upstream 401 drops the token (if still current), and the request goes once more with a fresh one
 * when its body can be sent again; a second 401, or one the refetch floor keeps the token for,
 * goes to the client.
 */
export function forward (request: FastifyRequest, reply: FastifyReply, path: string, x: Exchange): void {
  const { upstream, tokens, metrics } = x
  const ctx = request.tp!
  const res = reply.raw
  let current: Attempt | undefined
  let clientGone = false
  // The client went away (or the answer is complete): nothing is left for an attempt to do.
  res.once('close', () => {
    clientGone = true
    clearTimeout(ctx.timer)
    current?.abort(CLIENT_GONE)
  })

  const events: AttemptEvents = {
    answered (attempt, status, headers) {
      clearTimeout(ctx.timer)
      const refused = ctx.token!
      // A fresh token refused again means the upstream objects to something else: keep it.
      // No replay either when the refetch floor kept the refused token: it would only be refused again.
      if (status === 401 && !ctx.replayed && tokens.invalidate(upstream.credential, refused.token) && rewindBody(request)) {
        ctx.replayed = true
        metrics.authRetries.inc({ upstream: upstream.name })
        tokens.get(upstream.credential).then((token) => {
          ctx.token = token
          request.log.debug({ upstream: upstream.name, refused: refused.fingerprint, fresh: token.fingerprint },
            'replaying after upstream 401')
          send()
        }, (err: unknown) => { reply.send(err) })
        return
      }
      if (status > 599) {
        attempt.abort(new Error('invalid status code'))
        reply.send(new ProxyError('UPSTREAM_UNREACHABLE', `upstream "${upstream.name}" answered with an invalid status code (${status})`,
          { upstream: upstream.name }))
        return
      }
      clientResponseHeaders(headers)
      const location = headers.location
      if (typeof location === 'string') headers.location = clientLocation(location, x.destination.prefix, x.destination.basePath)
      // An HTTP/1 connection cannot carry another request until this one's body has been read.
      if (!request.raw.complete) headers.connection = 'close'
      try {
        writeHeadTolerant(attempt, res, status, headers)
      } catch (err) {
        attempt.abort(err as Error)
        reply.send(new ProxyError('UPSTREAM_UNREACHABLE', `upstream "${upstream.name}" answered with headers that cannot be sent on`,
          { upstream: upstream.name }, { cause: err }))
        return
      }
      reply.hijack()
    },
    failed (error) {
      clearTimeout(ctx.timer)
      reply.send(upstreamFailure(error, upstream))
    },
    cut (error) {
      request.log.warn({ upstream: upstream.name, err: { code: (error as { code?: string }).code, message: error.message } },
        'the upstream\'s answer broke off after its headers: the client\'s connection is closed')
      res.destroy()
    },
  }

  function send (): void {
    if (clientGone) return
    const attempt = new Attempt(events)
    current = attempt
    startTimer(request, reply, upstream, () => {
      // A body stream destroyed now fails the upstream request whenever undici gets to it.
      ;(request.body as { destroy?: () => void } | undefined)?.destroy?.()
      attempt.abort(new Error('upstream timeout'))
    })
    const headers = upstreamRequestHeaders(request.headers, x.destination.host, ctx.token!.token, x.forwarding(request))
    const body = (request.body ?? null) as Dispatcher.DispatchOptions['body']
    x.pool.dispatch({ path, method: request.method as Dispatcher.HttpMethod, headers: headers as Record<string, string>, body }, attempt)
  }
  send()
}
