// The exchange with the upstream: one reply.from() per attempt, and one replay with a fresh token after a 401.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { UpstreamConfig } from '../config/types.js'
import { ProxyError } from '../errors.js'
import type { Metrics } from '../observability/metrics.js'
import type { TokenManager } from '../tokens/token-manager.js'
import { onBodyProgress, rewindBody, waitsForClient } from './body.js'

/** What reply-from hands to onResponse: the upstream's status, headers and body. */
interface UpstreamResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  stream: NodeJS.ReadableStream & { resume (): void, destroy (): void }
}

/** How one attempt ended: an answer, an error, or the upstream timer (the client already has its 504). */
type Outcome = { res: UpstreamResponse } | { error: unknown } | { timedOut: true }

/** The options @fastify/http-proxy builds for reply.from(): its route's, with its header rewriting around ours. */
export type FromOptions = NonNullable<Parameters<FastifyReply['from']>[1]>

export interface Exchange {
  upstream: UpstreamConfig
  tokens: TokenManager
  metrics: Metrics
}

/** Headers reply-from copies onto the reply: none, so that a 401 being replayed leaves nothing behind. */
const NONE = (): IncomingHttpHeaders => ({})

/** A ProxyError of tokenproxy's own somewhere in an error's cause chain (reply-from and undici wrap what they get). */
function ownError (error: unknown): ProxyError | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ProxyError) return e
  }
  return undefined
}

/** The client's answer when reply-from could not get one from the upstream. */
function upstreamFailure (error: unknown, upstream: UpstreamConfig): ProxyError {
  // The client's body failed the upstream request (it stalled: 408): that is the client's answer.
  const own = ownError(error)
  if (own !== undefined) return own
  const err = error as Error & { statusCode?: number, cause?: { code?: string } }
  const timedOut = err.statusCode === 504
  const code = err.cause?.code ?? (err as { code?: string }).code
  return new ProxyError(
    timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNREACHABLE',
    timedOut
      ? `upstream "${upstream.name}" sent no response headers within ${upstream.timeout}s`
      : `upstream "${upstream.name}" could not be reached${code ? ` (${code})` : ''}`,
    { upstream: upstream.name },
    { cause: error }
  )
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
    // A body stream destroyed now fails the upstream request whenever undici gets to it.
    ;(request.body as { destroy?: () => void } | undefined)?.destroy?.()
    reply.send(new ProxyError('UPSTREAM_TIMEOUT',
      `upstream "${upstream.name}" did not answer within ${upstream.timeout}s ` +
        '(waiting for a connection, connecting, TLS handshake and response headers)',
      { upstream: upstream.name }))
    onTimeout()
  }, upstream.timeout * 1000)
  // A timer left by an exchange that ended another way must not hold a stopping process open.
  ctx.timer.unref()
  onBodyProgress(request, () => { ctx.timer?.refresh() })
}

/** One send to the upstream; resolves once it answered (headers), failed, or timed out. */
async function attempt (request: FastifyRequest, reply: FastifyReply, dest: string, options: FromOptions,
  upstream: UpstreamConfig): Promise<Outcome> {
  const ctx = request.tp!
  return await new Promise<Outcome>((resolve) => {
    let settled = false
    const settle = (outcome: Outcome): boolean => {
      clearTimeout(ctx.timer)
      if (settled) return false
      settled = true
      resolve(outcome)
      return true
    }
    startTimer(request, reply, upstream, () => { settle({ timedOut: true }) })
    reply.from(dest, {
      ...options,
      rewriteHeaders: NONE,
      onResponse (_request, _reply, res) {
        const r = res as unknown as UpstreamResponse
        // Dropped: what the upstream sends after the client got UPSTREAM_TIMEOUT, or after reply-from
        // reported an error for this answer (a status code it cannot set).
        if (!settle({ res: r })) r.stream.destroy()
      },
      onError (_reply, { error }) {
        settle({ error })
      },
    })
  })
}

/**
 * Sends the request to the upstream and the upstream's answer to the client. An upstream 401 drops
 * the token (if still current), and the request goes once more with a fresh one when its body can
 * be sent again; a second 401, or one the refetch floor keeps the token for, goes to the client.
 */
export async function forward (request: FastifyRequest, reply: FastifyReply, dest: string, options: FromOptions,
  x: Exchange): Promise<void> {
  const { upstream, tokens, metrics } = x
  const ctx = request.tp!
  for (;;) {
    const outcome = await attempt(request, reply, dest, options, upstream)
    if ('timedOut' in outcome) return
    if ('error' in outcome) {
      reply.send(upstreamFailure(outcome.error, upstream))
      return
    }
    const { res } = outcome
    const refused = ctx.token!
    // A fresh token refused again means the upstream objects to something else: keep it.
    // No replay either when the refetch floor kept the refused token: it would only be refused again.
    const replay = res.statusCode === 401 && !ctx.replayed && tokens.invalidate(upstream.credential, refused.token) && rewindBody(request)
    if (!replay) {
      reply.headers(options.rewriteHeaders!(res.headers, request) as OutgoingHttpHeaders)
      reply.send(res.stream)
      return
    }
    ctx.replayed = true
    res.stream.resume()
    metrics.authRetries.inc({ upstream: upstream.name })
    ctx.token = await tokens.get(upstream.credential)
    request.log.debug({ upstream: upstream.name, refused: refused.fingerprint, fresh: ctx.token.fingerprint },
      'replaying after upstream 401')
  }
}
