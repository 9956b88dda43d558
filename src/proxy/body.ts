// Request bodies: small ones (declared length under 1 MiB) are buffered so a 401 can be replayed;
// everything else streams through untouched.
import { PassThrough, type Readable } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'

export const MAX_REPLAY_BYTES = 1024 * 1024

const kReplayBody = Symbol('tokenproxy.replayBody')
type WithReplay = FastifyRequest & { [kReplayBody]?: Buffer }

function streamOf (buf: Buffer): Readable {
  return new PassThrough().end(buf)
}

/** Makes every content type pass through as a stream (bounded buffering for replay). */
export function registerBodyHandling (app: FastifyInstance): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (request: WithReplay, payload, done) => {
    const declared = Number(request.headers['content-length'])
    if (!Number.isInteger(declared) || declared > MAX_REPLAY_BYTES || request.headers['transfer-encoding'] !== undefined) {
      done(null, payload)
      return
    }
    const chunks: Buffer[] = []
    payload.on('data', (c: Buffer) => chunks.push(c))
    payload.on('error', (err) => done(err, undefined))
    payload.on('end', () => {
      const buf = Buffer.concat(chunks)
      request[kReplayBody] = buf
      done(null, streamOf(buf))
    })
  })
}

/**
 * Prepares the request body for one more send. Returns false when the body cannot be replayed
 * (it was streamed).
 */
export function rewindBody (request: FastifyRequest): boolean {
  const r = request as WithReplay
  if (request.body === undefined || request.body === null) return true
  const buf = r[kReplayBody]
  if (buf === undefined) return false
  request.body = streamOf(buf)
  return true
}
