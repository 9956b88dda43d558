// Request bodies. One declared under 1 MiB is forwarded as it arrives *and* kept, so that a 401 can be
// replayed with it; anything else (chunked, or 1 MiB and more) streams through untouched.
import { PassThrough, type Readable } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/** SPEC: a body is replayable when it is "buffered under 1 MiB": a declared length of at most this minus one. */
export const MAX_REPLAY_BYTES = 1024 * 1024

const kReplay = Symbol('tokenproxy.replayableBody')
type WithReplay = FastifyRequest & { [kReplay]?: ReplayableBody }

/**
 * Tees the client's body: every chunk goes on to the current attempt's stream at once and is kept.
 * `rewind()` starts a new attempt that gets the kept chunks, then whatever still arrives. Nothing is
 * copied: the attempts share the client's chunk buffers.
 */
class ReplayableBody {
  private readonly chunks: Buffer[] = []
  private ended = false
  private failure: Error | undefined
  private current: PassThrough

  constructor (private readonly source: Readable) {
    this.current = new PassThrough()
    source.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk)
      if (!this.current.destroyed) this.current.write(chunk)
    })
    source.once('end', () => {
      this.ended = true
      this.current.end()
    })
    source.once('error', (err) => this.fail(err))
    // A client that goes away mid-body may close without 'error': the upstream must not wait for the rest.
    source.once('close', () => { if (!this.ended) this.fail(new Error('the client closed the connection before the whole body')) })
  }

  private fail (err: Error): void {
    this.failure ??= err
    this.current.destroy(this.failure)
  }

  get stream (): Readable { return this.current }

  rewind (): Readable {
    this.current.destroy()
    const next = new PassThrough()
    for (const chunk of this.chunks) next.write(chunk)
    if (this.failure !== undefined) next.destroy(this.failure)
    else if (this.ended) next.end()
    this.current = next
    return next
  }
}

/** Makes every content type pass through as a stream; small declared bodies are also kept for a replay. */
export function registerBodyHandling (app: FastifyInstance): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (request: WithReplay, payload, done) => {
    const declared = Number(request.headers['content-length'])
    if (!Number.isInteger(declared) || declared >= MAX_REPLAY_BYTES || request.headers['transfer-encoding'] !== undefined) {
      done(null, payload)
      return
    }
    const body = new ReplayableBody(payload)
    request[kReplay] = body
    done(null, body.stream)
  })
}

/**
 * Prepares the request body for one more send. Returns false when the body cannot be replayed
 * (it was streamed).
 */
export function rewindBody (request: FastifyRequest): boolean {
  const r = request as WithReplay
  if (request.body === undefined || request.body === null) return true
  const body = r[kReplay]
  if (body === undefined) return false
  request.body = body.rewind()
  return true
}
