// One raw request over a fresh node:net socket, its response checked for well-formedness and classified.
import { connect } from 'node:net'

/** `status:NNN`, `closed` / `reset` (no response, connection ended), or a failure: `timeout`, `malformed: ...`. */
export interface Outcome {
  label: string
  ok: boolean
  detail?: string
}

interface Parsed { status: number, headers: Record<string, string>, body: Buffer }

const STATUS_LINE = /^HTTP\/1\.1 (\d{3})(?: [^\r\n]*)?$/

/** Decodes a chunked body from `buf`: the body, undefined while incomplete, or an Error when malformed. */
function dechunk (buf: Buffer): Buffer | undefined | Error {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const nl = buf.indexOf('\r\n', at)
    if (nl === -1) return undefined
    const size = Number.parseInt(buf.subarray(at, nl).toString('latin1').split(';', 1)[0]!, 16)
    if (!Number.isFinite(size) || size < 0) return new Error('bad chunk size in the response')
    if (size === 0) {
      // The last chunk's line, then trailers (if any), then an empty line.
      return buf.indexOf('\r\n\r\n', nl) === -1 ? undefined : Buffer.concat(parts)
    }
    if (buf.length < nl + 2 + size + 2) return undefined
    parts.push(buf.subarray(nl + 2, nl + 2 + size))
    at = nl + 2 + size + 2
  }
}

/**
 * The final (non-1xx) response in `buf`, undefined while incomplete, or an Error when it cannot be
 * a well-formed HTTP/1.1 response. `closed`: the server has closed, so a body without framing ends here.
 */
export function parseResponse (buf: Buffer, method: string, closed: boolean): Parsed | undefined | Error {
  let at = 0
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at)
    if (end === -1) {
      return closed ? new Error(`truncated head: ${JSON.stringify(buf.subarray(at, at + 120).toString('latin1'))}`) : undefined
    }
    const [statusLine, ...lines] = buf.subarray(at, end).toString('latin1').split('\r\n')
    const m = STATUS_LINE.exec(statusLine!)
    if (m === null) return new Error(`bad status line: ${JSON.stringify(statusLine)}`)
    const status = Number(m[1])
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      if (colon <= 0) return new Error(`bad header line: ${JSON.stringify(line)}`)
      const name = line.slice(0, colon).toLowerCase()
      headers[name] = headers[name] === undefined ? line.slice(colon + 1).trim() : `${headers[name]}, ${line.slice(colon + 1).trim()}`
    }
    const rest = buf.subarray(end + 4)
    if (status >= 100 && status < 200) {
      at = end + 4
      continue
    }
    if (method === 'HEAD' || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) }
    if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length'])
      if (!Number.isInteger(len) || len < 0) return new Error(`bad content-length ${headers['content-length']}`)
      if (rest.length >= len) return { status, headers, body: rest.subarray(0, len) }
      return closed ? new Error(`body truncated at ${rest.length} of ${len}`) : undefined
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const body = dechunk(rest)
      if (body instanceof Error) return body
      if (body !== undefined) return { status, headers, body }
      return closed ? new Error('chunked body truncated') : undefined
    }
    return closed ? { status, headers, body: rest } : undefined
  }
}

/** Checks a complete response: status 200-599, and an error is problem+json with a `code`. */
export function judge (res: Parsed, method: string): Outcome {
  const label = `status:${res.status}`
  if (res.status < 200 || res.status > 599) return { label, ok: false, detail: 'status outside 200-599' }
  if (res.status < 400) return { label, ok: true }
  if (!/^application\/problem\+json/.test(res.headers['content-type'] ?? '')) {
    return { label, ok: false, detail: `error without problem+json (content-type ${res.headers['content-type']})` }
  }
  if (method === 'HEAD') return { label, ok: true }
  try {
    const problem = JSON.parse(res.body.toString('utf8')) as { code?: unknown, status?: unknown }
    if (typeof problem.code !== 'string' || problem.status !== res.status) {
      return { label, ok: false, detail: `problem without code/status: ${res.body.toString('utf8').slice(0, 200)}` }
    }
  } catch {
    return { label, ok: false, detail: `problem body is not JSON: ${JSON.stringify(res.body.toString('latin1').slice(0, 200))}` }
  }
  return { label, ok: true }
}

/**
 * Sends `bytes` to 127.0.0.1:`port` and waits for one complete response or the close of the
 * connection, at most `timeoutMs` (then the outcome is `timeout`, a failure).
 */
export function exchange (port: number, bytes: Buffer, opts: { method: string, halfClose: boolean, timeoutMs: number }): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const chunks: Buffer[] = []
    let settled = false
    let resetCode: string | undefined
    const finish = (o: Outcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(o)
    }
    const check = (closed: boolean): void => {
      const buf = Buffer.concat(chunks)
      if (buf.length === 0) {
        if (closed) finish({ label: resetCode === undefined ? 'closed' : 'reset', ok: true })
        return
      }
      const res = parseResponse(buf, opts.method, closed)
      if (res instanceof Error) finish({ label: 'malformed', ok: false, detail: res.message })
      else if (res !== undefined) finish(judge(res, opts.method))
    }
    const timer = setTimeout(() => finish({
      label: 'timeout',
      ok: false,
      detail: `no response or close within ${opts.timeoutMs} ms; got ${Buffer.concat(chunks).length} bytes`,
    }), opts.timeoutMs)
    socket.on('data', (c: Buffer) => { chunks.push(c); check(false) })
    socket.on('error', (err: NodeJS.ErrnoException) => { resetCode = err.code })
    socket.on('close', () => check(true))
    socket.write(bytes)
    if (opts.halfClose) socket.end()
  })
}
