// `log.requests`: one line per proxied request; never a query value or a header value.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'

declare module 'fastify' {
  interface FastifyRequest {
    /** The client socket's bytesWritten when the request arrived (set only when `log.requests` is on). */
    tpSentBefore: number
  }
}

/** Only the parameter names of a query: its values may be the client's own secrets. */
function queryKeys (url: string): string[] | undefined {
  const q = url.indexOf('?')
  if (q === -1) return undefined
  return [...new URLSearchParams(url.slice(q + 1)).keys()]
}

/** Called from onRequest: remembers where the response's bytes start on a kept-alive socket. */
export function markRequestStart (request: FastifyRequest): void {
  request.tpSentBefore = request.raw.socket?.bytesWritten ?? 0
}

/** Called from onResponse. `route` is the upstream's prefix (shared listener) or `port N` (dedicated). */
export function logRequest (logger: Logger, request: FastifyRequest, reply: FastifyReply, dedicated: boolean): void {
  const ctx = request.tp
  const url = request.raw.url ?? ''
  const q = url.indexOf('?')
  const upstream = ctx?.upstream
  const route = upstream === undefined ? null : (dedicated ? `port ${request.raw.socket?.localPort ?? upstream.port}` : upstream.prefix)
  const status = reply.statusCode
  const durationMs = Math.round(reply.elapsedTime * 10) / 10
  const fields = {
    method: request.method,
    route,
    upstream: upstream?.name ?? null,
    path: (q === -1 ? url : url.slice(0, q)).slice(0, 256),
    query: queryKeys(url),
    status,
    durationMs,
    // Headers included: what went to the client on its socket for this response.
    bytes: (request.raw.socket?.bytesWritten ?? 0) - request.tpSentBefore,
    fingerprint: ctx?.token?.fingerprint ?? null,
    ...(ctx?.replayed === true ? { replayed: true } : {}),
  }
  logger.info(fields, `${request.method} ${fields.path} -> ${fields.upstream ?? 'no upstream'} ${status} ${durationMs}ms`)
}
