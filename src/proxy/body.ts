// Request bodies stream to the upstream with back-pressure, under an idle timeout. One declared under
// 1 MiB is also kept, so that a 401 can be replayed with it, while the global replay budget allows.
import type { ServerResponse } from 'node:http'
import { PassThrough, type Readable } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ProxyError } from '../errors.js'

/**
 * Bytes a stream (a client socket, a body on its way upstream) buffers before back-pressure: one
 * whole socket read, so that a large body is not paused and resumed after every chunk (Node 22 made
 * 64 KiB the default; Node 20's is 16 KiB).
 */
export const STREAM_BUFFER_BYTES = 64 * 1024

/** A body is replayable when it is buffered under 1 MiB: a declared length of at most this minus one. */
const MAX_REPLAY_BYTES = 1024 * 1024

/** Bytes that the bodies kept for a replay may hold at once, across every proxy listener. */
export class ReplayBudget {
  used = 0
  constructor (readonly limit: number) {}

  /** Reserves `bytes`; false (nothing reserved) when that would pass the limit. */
  take (bytes: number): boolean {
    if (this.used + bytes > this.limit) return false
    this.used += bytes
    return true
  }

  give (bytes: number): void { this.used -= bytes }
}

interface BodyOptions {
  budget: ReplayBudget
  /** A body that sends no byte for this long is refused with 408 (while no answer has started). */
  idleTimeoutMs: number
}

const kBody = Symbol('tokenproxy.body')
const kResponse = Symbol('tokenproxy.response')
type WithBody = FastifyRequest & { [kBody]?: WatchedBody, [kResponse]?: ServerResponse }

/**
 * The client's body on its way to the upstream. Chunks are read only as fast as the current
 * attempt takes them; a kept body also holds every chunk, and `rewind()` starts a new attempt that
 * gets them, then whatever still arrives. Nothing is copied: the attempts share the chunk buffers.
 */
class WatchedBody {
  private readonly chunks: Buffer[] | undefined
  private ended = false
  private failure: Error | undefined
  private current: PassThrough
  private readonly idle: NodeJS.Timeout
  /** Called on every chunk from the client (the upstream timer counts it as progress). */
  onProgress: (() => void) | undefined

  constructor (private readonly source: Readable, keep: boolean, idleMs: number, res: ServerResponse | undefined) {
    this.chunks = keep ? [] : undefined
    this.current = this.attempt()
    this.idle = setTimeout(() => {
      // Paused for back-pressure, tokenproxy is waiting for the upstream, not for the client: the upstream timer judges that.
      if (source.isPaused()) {
        this.idle.refresh()
        return
      }
      // Once an answer has started, the exchange has moved on; the client's stall is no longer ours to judge.
      if (res?.headersSent !== true) this.fail(new ProxyError('REQUEST_TIMEOUT', `the request body stalled: no byte for ${idleMs / 1000}s`))
    }, idleMs)
    this.idle.unref()
    source.on('data', (chunk: Buffer) => {
      this.idle.refresh()
      this.chunks?.push(chunk)
      this.onProgress?.()
      // Back-pressure: stop reading the client while the upstream is not taking the body.
      if (!this.current.destroyed && !this.current.write(chunk)) source.pause()
    })
    source.once('end', () => {
      this.ended = true
      clearTimeout(this.idle)
      this.current.end()
    })
    source.once('error', (err) => this.fail(err))
    // A client that goes away mid-body may close without 'error': the upstream must not wait for the rest.
    source.once('close', () => { if (!this.ended) this.fail(new Error('the client closed the connection before the whole body')) })
  }

  private attempt (): PassThrough {
    const next = new PassThrough({ highWaterMark: STREAM_BUFFER_BYTES })
    next.on('drain', () => this.source.resume())
    // An attempt given up (the upstream answered early, a replay starts) must not leave the client paused.
    next.once('close', () => this.source.resume())
    return next
  }

  private fail (err: Error): void {
    clearTimeout(this.idle)
    this.failure ??= err
    this.current.destroy(this.failure)
  }

  get stream (): Readable { return this.current }

  /** True while the body is incomplete and read at the client's pace: any wait is the client's. */
  get waitsForClient (): boolean { return !this.ended && this.failure === undefined && !this.source.isPaused() }

  /** A new attempt with the whole body, or undefined when the body was not kept. */
  rewind (): Readable | undefined {
    if (this.chunks === undefined) return undefined
    this.current.destroy()
    const next = this.attempt()
    for (const chunk of this.chunks) next.write(chunk)
    if (this.failure !== undefined) next.destroy(this.failure)
    else if (this.ended) next.end()
    this.current = next
    return next
  }
}

/** Makes every content type pass through as a watched stream; small declared bodies are also kept for a replay. */
export function registerBodyHandling (app: FastifyInstance, opts: BodyOptions): void {
  // The parser sees only the request: it needs the response to know when a kept body may be let go.
  app.addHook('onRequest', (request: WithBody, reply, done) => {
    request[kResponse] = reply.raw
    done()
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (request: WithBody, payload, done) => {
    const declared = Number(request.headers['content-length'])
    const res = request[kResponse]
    const keep = Number.isInteger(declared) && declared < MAX_REPLAY_BYTES && request.headers['transfer-encoding'] === undefined &&
      res !== undefined && opts.budget.take(declared)
    if (keep) res.once('close', () => { opts.budget.give(declared) })
    const body = new WatchedBody(payload, keep, opts.idleTimeoutMs, res)
    request[kBody] = body
    done(null, body.stream)
  })
}

/** Calls `fn` on every body chunk from the client (nothing when the request has no body). */
export function onBodyProgress (request: FastifyRequest, fn: () => void): void {
  const body = (request as WithBody)[kBody]
  if (body !== undefined) body.onProgress = fn
}

/** True while tokenproxy waits for the client's body (not for the upstream to take it). */
export function waitsForClient (request: FastifyRequest): boolean {
  return (request as WithBody)[kBody]?.waitsForClient === true
}

/**
 * Prepares the request body for one more send. Returns false when the body cannot be replayed
 * (it was streamed).
 */
export function rewindBody (request: FastifyRequest): boolean {
  const r = request as WithBody
  if (request.body === undefined || request.body === null) return true
  const next = r[kBody]?.rewind()
  if (next === undefined) return false
  request.body = next
  return true
}
