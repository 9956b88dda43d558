// Recording loopback upstream with switchable misbehaviours; bodies are hashed while streaming, never buffered.
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { PeerTimers, listenPeer } from './peer-kit.js'

export const BODY_TEXT_LIMIT = 64 * 1024
const CHUNK = 64 * 1024

export interface RecordedUpstreamRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Flat [name, value, name, value, …] as received: count repeated headers here. */
  rawHeaders: string[];
  bodyBytes: number;
  /** Hex SHA-256 of the whole body; '' until the body has been fully received. */
  bodySha256: string;
  /** First 64 KiB of the body, decoded as UTF-8. */
  bodyText: string;
  /** True once the body has ended; false if the client aborted mid-upload. */
  complete: boolean;
  time: number;
}

export type UpstreamMode =
  | { kind: 'echo' }
  | { kind: 'reject'; tokens: Set<string> | 'all'; times?: number }
  | { kind: 'delay-headers'; ms: number }
  | { kind: 'reset' }
  | { kind: 'reset-mid-body' }
  | { kind: 'big'; bytes: number }
  | { kind: 'status'; status: number; body: string }

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, rec: RecordedUpstreamRequest) => void

export interface Upstream {
  url: string;
  requests: RecordedUpstreamRequest[];
  /** How many 401s the current/previous 'reject' modes have sent. */
  readonly rejections: number;
  setMode(mode: UpstreamMode): void;
  close(): Promise<void>;
}

/** The byte pattern 'big' mode streams: byte i of the body is i % 251. */
function patternChunk (): Buffer {
  const buf = Buffer.alloc(CHUNK)
  for (let i = 0; i < CHUNK; i++) buf[i] = i % 251
  return buf
}
const PATTERN = patternChunk()

/** SHA-256 (hex) of the body 'big' mode sends for `bytes` bytes, for assertions. */
export function bigBodySha256 (bytes: number): string {
  const hash = createHash('sha256')
  for (let sent = 0; sent < bytes; sent += CHUNK) hash.update(PATTERN.subarray(0, Math.min(CHUNK, bytes - sent)))
  return hash.digest('hex')
}

function bearerOf (req: IncomingMessage): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
  return m?.[1] ?? null
}

function sendText (res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  const type = body.trimStart().startsWith('{') ? 'application/json' : 'text/plain;charset=utf-8'
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra }).end(body)
}

function echo (req: IncomingMessage, res: ServerResponse, rec: RecordedUpstreamRequest): void {
  sendText(res, 200, JSON.stringify({
    method: rec.method,
    url: rec.url,
    authorization: req.headers.authorization ?? null,
    bodyBytes: rec.bodyBytes,
    bodySha256: rec.bodySha256,
  }))
}

function streamBig (res: ServerResponse, bytes: number): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes })
  let sent = 0
  const pump = (): void => {
    while (sent < bytes && !res.destroyed) {
      const n = Math.min(CHUNK, bytes - sent)
      sent += n
      if (!res.write(PATTERN.subarray(0, n))) { res.once('drain', pump); return }
    }
    if (!res.destroyed) res.end()
  }
  pump()
}

export async function startUpstream (opts: { handler?: UpstreamHandler } = {}): Promise<Upstream> {
  const requests: RecordedUpstreamRequest[] = []
  const timers = new PeerTimers()
  let mode: UpstreamMode = { kind: 'echo' }
  let rejectBudget: number | undefined
  let rejections = 0

  function respond (req: IncomingMessage, res: ServerResponse, rec: RecordedUpstreamRequest): void {
    const m = mode
    switch (m.kind) {
      case 'echo':
        break
      case 'reject': {
        const token = bearerOf(req)
        const listed = m.tokens === 'all' || (token !== null && m.tokens.has(token))
        if (listed && (rejectBudget === undefined || rejectBudget > 0)) {
          if (rejectBudget !== undefined) rejectBudget--
          rejections++
          sendText(res, 401, JSON.stringify({ error: 'invalid_token' }), { 'WWW-Authenticate': 'Bearer error="invalid_token"' })
          return
        }
        break
      }
      case 'delay-headers': {
        void timers.delay(m.ms).then(() => {
          if (!res.destroyed) (opts.handler ?? echo)(req, res, rec)
        })
        return
      }
      case 'reset':
        req.socket.destroy()
        return
      case 'reset-mid-body':
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 100_000 })
        res.write('{"partial":"' + 'x'.repeat(1000), () => { setTimeout(() => res.destroy(), 20) })
        return
      case 'big':
        streamBig(res, m.bytes)
        return
      case 'status':
        sendText(res, m.status, m.body)
        return
    }
    (opts.handler ?? echo)(req, res, rec)
  }

  const server = await listenPeer((req, res) => {
    const rec: RecordedUpstreamRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bodyBytes: 0,
      bodySha256: '',
      bodyText: '',
      complete: false,
      time: Date.now(),
    }
    requests.push(rec)
    const hash = createHash('sha256')
    const head: Buffer[] = []
    let headBytes = 0
    req.on('data', (chunk: Buffer) => {
      rec.bodyBytes += chunk.length
      hash.update(chunk)
      if (headBytes < BODY_TEXT_LIMIT) {
        const part = chunk.subarray(0, BODY_TEXT_LIMIT - headBytes)
        head.push(part)
        headBytes += part.length
      }
    })
    req.on('end', () => {
      rec.bodySha256 = hash.digest('hex')
      rec.bodyText = Buffer.concat(head).toString('utf8')
      rec.complete = true
      respond(req, res, rec)
    })
    req.on('error', () => { /* client aborted: rec stays incomplete */ })
  }, (_req, res) => { res.writeHead(500).end() }, timers)

  return {
    url: server.origin,
    requests,
    get rejections () { return rejections },
    setMode (next) {
      mode = next
      rejectBudget = next.kind === 'reject' ? next.times : undefined
    },
    close: server.close,
  }
}
