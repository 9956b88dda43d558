// Large bodies stream through the sidecar both ways intact, and its memory does not grow with body size.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { bigBodySha256 } from '../peers/upstream.js'
import { startStack } from '../helpers/proxy-fixture.js'

const MiB = 1024 * 1024
const CHUNK = 64 * 1024

/** Deterministic upload content: chunk k is filled with byte k % 256 (distinct from the download pattern). */
function uploadChunk (k: number): Buffer {
  return Buffer.alloc(CHUNK, k % 256)
}

async function * upload (bytes: number): AsyncGenerator<Buffer> {
  for (let k = 0; k * CHUNK < bytes; k++) yield uploadChunk(k).subarray(0, Math.min(CHUNK, bytes - k * CHUNK))
}

function uploadSha256 (bytes: number): string {
  const hash = createHash('sha256')
  for (let k = 0; k * CHUNK < bytes; k++) hash.update(uploadChunk(k).subarray(0, Math.min(CHUNK, bytes - k * CHUNK)))
  return hash.digest('hex')
}

t.test('a 20 MiB upload arrives intact, chunked and with content-length', async (t) => {
  const s = await startStack(t)
  const bytes = 20 * MiB
  const want = uploadSha256(bytes)
  for (const framing of ['chunked', 'content-length'] as const) {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' }
    if (framing === 'content-length') headers['content-length'] = String(bytes)
    const res = await request(`${s.url}/registry/upload/${framing}`, { method: 'PUT', headers, body: Readable.from(upload(bytes)) })
    t.equal(res.statusCode, 200, `${framing}: 200`)
    const echoed = await res.body.json() as { bodyBytes: number, bodySha256: string }
    const got = s.up.requests.at(-1)!
    t.equal(got.url, `/upload/${framing}`)
    t.ok(got.complete, `${framing}: upstream got the whole body`)
    t.equal(got.bodyBytes, bytes, `${framing}: byte count`)
    t.equal(got.bodySha256, want, `${framing}: sha256`)
    t.equal(echoed.bodySha256, want, `${framing}: upstream answered after the whole body`)
    if (framing === 'content-length') t.equal(got.headers['content-length'], String(bytes), 'declared length forwarded')
    else t.equal(got.headers['transfer-encoding'], 'chunked', 'streamed on as chunked, not buffered to a length')
  }
  t.equal(s.up.requests.length, 2)
})

t.test('a 20 MiB download arrives intact', async (t) => {
  const s = await startStack(t)
  const bytes = 20 * MiB
  s.up.setMode({ kind: 'big', bytes })
  const res = await request(`${s.url}/registry/download`)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-length'], String(bytes), 'length passed through')
  t.equal(res.headers['content-type'], 'application/octet-stream')
  const hash = createHash('sha256')
  let received = 0
  for await (const chunk of res.body) {
    hash.update(chunk as Buffer)
    received += (chunk as Buffer).length
  }
  t.equal(received, bytes, 'byte count')
  t.equal(hash.digest('hex'), bigBodySha256(bytes), 'sha256')
})

t.test('memory does not grow with the size of a download read slowly', async (t) => {
  const s = await startStack(t)
  const bytes = 100 * MiB
  s.up.setMode({ kind: 'big', bytes })
  // warm up the path (connections, JIT) so the baseline includes them
  const warm = await request(`${s.url}/registry/warm`, { method: 'GET' })
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- reads the body without keeping it
  for await (const _ of warm.body) { /* drain */ }
  s.up.setMode({ kind: 'big', bytes })

  const before = process.memoryUsage().rss
  let peak = before
  const res = await request(`${s.url}/registry/download`)
  t.equal(res.statusCode, 200)
  const hash = createHash('sha256')
  let received = 0
  let sinceSleep = 0
  for await (const chunk of res.body) {
    const b = chunk as Buffer
    hash.update(b)
    received += b.length
    sinceSleep += b.length
    if (sinceSleep >= MiB) {
      // a slow reader: the upstream could fill the sidecar much faster than this drains it
      sinceSleep = 0
      peak = Math.max(peak, process.memoryUsage().rss)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  const growth = peak - before
  t.equal(received, bytes, 'the whole body arrived')
  t.equal(hash.digest('hex'), bigBodySha256(bytes), 'intact')
  t.ok(growth < 40 * MiB, `peak RSS growth ${Math.round(growth / MiB)} MiB is far below the ${bytes / MiB} MiB body`)
})
