// Records, from outside, the head and body of every error response (status >= 400) a sidecar listener sends.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

/** Bytes kept per body: enough for any problem+json or passed-through error page. */
const BODY_CAP = 256 * 1024

export interface ErrorBody {
  listener: string
  method: string
  url: string
  status: number
  /** The status line and headers as sent ('' if the head never went out). */
  head: string
  readonly text: string
}

type Method = (...args: unknown[]) => unknown

function toBuffer (chunk: unknown, encoding: unknown): Buffer | undefined {
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8')
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  return undefined
}

/** Wraps one response's write/end; the record appears at the first byte (or end) sent with an error status. */
function observe (listener: string, req: IncomingMessage, res: ServerResponse, into: ErrorBody[]): void {
  let rec: ErrorBody | undefined
  const chunks: Buffer[] = []
  let size = 0
  const keep = (chunk: unknown, encoding: unknown): void => {
    if (res.statusCode < 400) return
    if (rec === undefined) {
      rec = {
        listener,
        method: req.method ?? '',
        url: req.url ?? '',
        status: res.statusCode,
        head: '',
        // Decoded as a whole so a multi-byte character split across writes stays intact.
        get text () { return Buffer.concat(chunks).toString('utf8') },
      }
      into.push(rec)
    }
    const buf = toBuffer(chunk, encoding)
    if (buf !== undefined && size < BODY_CAP) {
      chunks.push(buf.subarray(0, BODY_CAP - size))
      size += Math.min(buf.length, BODY_CAP - size)
    }
    rec.head = (res as unknown as { _header?: string | null })._header ?? ''
  }
  const target = res as unknown as Record<'write' | 'end', Method>
  for (const name of ['write', 'end'] as const) {
    const original = target[name]
    target[name] = function (this: ServerResponse, ...args: unknown[]) {
      const out = original.apply(this, args)
      keep(args[0], args[1])
      return out
    }
  }
}

/** Starts recording the error responses of each listener's server; returns the live list. */
export function captureErrorBodies (listeners: Array<{ name: string, server: Server }>): ErrorBody[] {
  const bodies: ErrorBody[] = []
  for (const l of listeners) {
    l.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => { observe(l.name, req, res, bodies) })
  }
  return bodies
}
