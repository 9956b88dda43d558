// Renders every error on a proxy listener as application/problem+json with a stable code.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PROBLEM_CONTENT_TYPE, ProxyError } from '../errors.js'
import type { LogSummary } from '../observability/log-summary.js'

/** Path only: the query may carry secrets of the client's own, and is not ours to echo. */
const pathOf = (url: string): string => url.split('?', 1)[0]!.slice(0, 256)

export function sendProblem (reply: FastifyReply, err: ProxyError, request: FastifyRequest): void {
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy()
    return
  }
  // Only the problem's own headers: not what an attempt may have left on the reply.
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter))
  // A body that stalled was not read to its end, or the listener is closing: the connection carries no further request.
  if (err.code === 'REQUEST_TIMEOUT' || err.code === 'SHUTTING_DOWN') reply.header('connection', 'close')
  reply.code(err.status).header('content-type', PROBLEM_CONTENT_TYPE).header('cache-control', 'no-store')
    .send(JSON.stringify(err.toProblem(pathOf(request.url))))
}

/** `summary`: where TOKEN_UNAVAILABLE warnings go, one line per credential per interval rather than one per request. */
export function registerErrorHandling (app: FastifyInstance, prefixes: string[], summary?: LogSummary): void {
  app.setNotFoundHandler((request, reply) => {
    const known = prefixes.length === 0 ? '' : ` (configured prefixes: ${prefixes.join(', ')})`
    sendProblem(reply, new ProxyError('NO_ROUTE', `no upstream is configured for ${pathOf(request.url)}${known}`), request)
  })
  app.setErrorHandler((error: FastifyError | ProxyError, request, reply) => {
    // The client left mid-request or mid-response: nobody to answer, and no fault of the upstream's
    // (an aborted upload aborts the upstream request too, which would otherwise read as UPSTREAM_UNREACHABLE).
    if (reply.raw.destroyed || (request.raw.destroyed && !request.raw.complete)) {
      request.log.debug({ method: request.method, path: pathOf(request.url), reason: error.message },
        'client closed the connection before the exchange was complete')
      reply.raw.destroy()
      return
    }
    if (error instanceof ProxyError) {
      const level = error.status >= 500 ? 'warn' : 'info'
      const fields = { code: error.code, ...error.extras, method: request.method, path: pathOf(request.url) }
      if (summary !== undefined && error.code === 'TOKEN_UNAVAILABLE') {
        summary.warn(`credential ${String(error.extras.credential)}`, fields,
          error.message)
      } else request.log[level](fields, error.message)
      sendProblem(reply, error, request)
      return
    }
    const status = (error as FastifyError).statusCode ?? 500
    if (status < 500) {
      sendProblem(reply, new ProxyError('BAD_REQUEST', `the request was refused: ${error.message}`), request)
      return
    }
    request.log.error({ err: error, method: request.method, path: pathOf(request.url) }, 'unexpected error')
    sendProblem(reply, new ProxyError('INTERNAL_ERROR', 'tokenproxy failed to handle the request; see its log'), request)
  })
}
