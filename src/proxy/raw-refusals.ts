// Refusals written straight to the socket, for requests that never become a fastify request.
import type { Socket } from 'node:net'
import { ProxyError } from '../errors.js'

function rawProblem (err: ProxyError, reason: string): string {
  const body = JSON.stringify(err.toProblem())
  return `HTTP/1.1 ${err.status} ${reason}\r\n` +
    'content-type: application/problem+json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'connection: close\r\n' +
    `\r\n${body}`
}

/** CONNECT never reaches a route: tokenproxy is not a tunnel. */
export const CONNECT_REFUSAL = rawProblem(new ProxyError('BAD_REQUEST', 'CONNECT is not supported: tokenproxy is not an open proxy'),
  'Bad Request')

const HEADERS_TOO_LARGE = rawProblem(new ProxyError('HEADERS_TOO_LARGE', 'the request headers are larger than tokenproxy accepts'),
  'Request Header Fields Too Large')
const UNPARSEABLE = rawProblem(new ProxyError('BAD_REQUEST', 'the request could not be parsed as HTTP/1.1'), 'Bad Request')
const HEADERS_TIMEOUT = rawProblem(new ProxyError('REQUEST_TIMEOUT', 'the request headers did not arrive within listen.headersTimeout'),
  'Request Timeout')

/** fastify's clientErrorHandler: a parse error (bad request line, CR/LF in a header, huge headers). */
export function refuseClientError (err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') socket.end(HEADERS_TOO_LARGE)
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') socket.end(HEADERS_TIMEOUT)
  else socket.end(UNPARSEABLE)
}
