// Clients that vanish mid-body (1000 downloads, 200 uploads): upstream requests are cancelled, sockets and heap return to baseline.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { rawRequest, startStack } from '../helpers/proxy-fixture.js'
import { until } from '../helpers/sidecar.js'

const MiB = 1024 * 1024
const DOWNLOADS = 1000
const UPLOADS = 200

// `--expose-gc` cannot be passed to a tap child per file; this exposes gc() the same way.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function heapAfterGc (): { heap: number, rss: number } {
  gc()
  gc()
  const m = process.memoryUsage()
  return { heap: m.heapUsed, rss: m.rss }
}

/** What the upstream's own http server saw of each request: how its request and response ended, its socket. */
interface Seen { id: string, requestClosed: boolean, requestComplete: boolean, responseClosed: boolean, responseFinished: boolean }

function watchUpstream (port: number): { seen: Seen[], openSockets: Set<Socket>, stop: () => void } {
  const seen: Seen[] = []
  const openSockets = new Set<Socket>()
  const onStart = (message: unknown): void => {
    const { request, response, socket } = message as { request: IncomingMessage, response: ServerResponse, socket: Socket }
    if (socket.localPort !== port) return
    const s: Seen = {
      id: String(request.headers['x-id']),
      requestClosed: false,
      requestComplete: false,
      responseClosed: false,
      responseFinished: false,
    }
    seen.push(s)
    request.once('close', () => { s.requestClosed = true; s.requestComplete = request.complete })
    response.once('close', () => { s.responseClosed = true; s.responseFinished = response.writableFinished })
    if (!openSockets.has(socket)) {
      openSockets.add(socket)
      socket.once('close', () => openSockets.delete(socket))
    }
  }
  subscribe('http.server.request.start', onStart)
  return { seen, openSockets, stop: () => unsubscribe('http.server.request.start', onStart) }
}

/**
 * Opens a socket, sends `head` (+ `body`), and destroys it after `abortAfterBodyBytes` of response body or once `abortNow` settles;
 * resolves the bytes received.
 */
interface AbortOptions { body?: Buffer, abortAfterBodyBytes?: number, abortNow?: Promise<void> }

function abortingClient (port: number, head: string, opts: AbortOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    let got = Buffer.alloc(0)
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('client exchange did not end within 10 s')) }, 10_000)
    socket.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c])
      const end = got.indexOf('\r\n\r\n')
      if (opts.abortAfterBodyBytes !== undefined && end !== -1 && got.length - end - 4 >= opts.abortAfterBodyBytes) socket.destroy()
    })
    socket.on('error', () => { /* the abort is the point */ })
    socket.on('close', () => { clearTimeout(timer); resolve(got.length) })
    socket.write(head)
    if (opts.body !== undefined) socket.write(opts.body)
    opts.abortNow?.then(() => socket.destroy(), () => socket.destroy())
  })
}

async function pool (n: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => { while (next < n) await job(next++) }))
}

async function connections (servers: Array<{ getConnections: (cb: (err: Error | null, n: number) => void) => void }>): Promise<number> {
  const counts = await Promise.all(servers.map((s) => new Promise<number>((resolve, reject) => {
    s.getConnections((err, n) => (err === null ? resolve(n) : reject(err)))
  })))
  return counts.reduce((a, b) => a + b, 0)
}

t.test(`${DOWNLOADS} downloads and ${UPLOADS} uploads aborted mid-body leave nothing behind`, async (t) => {
  const s = await startStack(t)
  const port = Number(new URL(s.url).port)
  const watch = watchUpstream(Number(new URL(s.up.url).port))
  t.teardown(watch.stop)
  const servers = s.sidecar.listeners.map((l) => l.server)
  const baselineSockets = await connections(servers)
  const before = heapAfterGc()

  // (a) Downloads: the upstream streams 32 MiB (4 MiB would fit in loopback socket buffers, and the upstream
  // would finish writing before the abort reached it); each client reads a first chunk and vanishes.
  s.up.setMode({ kind: 'big', bytes: 32 * MiB })
  const received: number[] = []
  await pool(DOWNLOADS, 25, async (i) => {
    received.push(await abortingClient(port, `GET /registry/big HTTP/1.1\r\nHost: 127.0.0.1\r\nx-id: d${i}\r\n\r\n`,
      { abortAfterBodyBytes: 1 }))
  })
  t.ok(received.every((n) => n < 32 * MiB), 'no client read a whole body')
  const downloads = (): Seen[] => watch.seen.filter((x) => x.id.startsWith('d'))
  await until(() => downloads().length === DOWNLOADS && downloads().every((x) => x.responseClosed), 15_000,
    'every upstream download response to close')
  const cut = downloads().filter((x) => !x.responseFinished).length
  t.equal(cut, DOWNLOADS, 'every upstream download was cancelled before its body was written')
  const upstreamOpenAfterDownloads = watch.openSockets.size
  t.ok(upstreamOpenAfterDownloads <= 25,
    `upstream connections open after the downloads: ${upstreamOpenAfterDownloads} (at most one per client in flight, not one per abort)`)

  // (b) Uploads: 4 MiB declared, 64 KiB sent; the client vanishes once the upstream has bytes of it.
  s.up.setMode({ kind: 'echo' })
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  await pool(UPLOADS, 10, async (i) => {
    const id = `u${i}`
    const arrived = until(() => s.up.requests.some((r) => r.headers['x-id'] === id && r.bodyBytes > 0), 10_000,
      `upload ${id} to reach the upstream`)
    const head = `POST /registry/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nx-id: ${id}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: ${4 * MiB}\r\n\r\n`
    await abortingClient(port, head, { body: chunk, abortNow: arrived })
  })
  const uploads = (): Seen[] => watch.seen.filter((x) => x.id.startsWith('u'))
  await until(() => uploads().length === UPLOADS && uploads().every((x) => x.requestClosed), 15_000,
    'every upstream upload request to close')
  t.equal(uploads().filter((x) => !x.requestComplete).length, UPLOADS, 'every upstream upload ended incomplete (cancelled, not completed)')
  const recs = s.up.requests.filter((r) => String(r.headers['x-id']).startsWith('u'))
  t.equal(recs.length, UPLOADS)
  t.ok(recs.every((r) => !r.complete && r.bodyBytes < 4 * MiB), 'the upstream never got a whole upload body')

  await until(async () => (await connections(servers)) === baselineSockets, 10_000, 'the sidecar\'s sockets to return to baseline')
  const afterSockets = await connections(servers)
  t.equal(afterSockets, baselineSockets, `sidecar sockets back to baseline (${baselineSockets})`)
  const upstreamOpen = watch.openSockets.size
  t.ok(upstreamOpen <= 10,
    `upstream connections open after the uploads: ${upstreamOpen} (at most one per client in flight, not one per abort)`)

  const after = heapAfterGc()
  const growth = (after.heap - before.heap) / MiB
  t.ok(growth < 50, `heap after GC grew ${growth.toFixed(1)} MiB (< 50)`)
  t.comment(`sockets before/after: ${baselineSockets}/${afterSockets}; ` +
    `upstream connections open after downloads/uploads: ${upstreamOpenAfterDownloads}/${upstreamOpen}; ` +
    `heap after GC ${(before.heap / MiB).toFixed(1)} -> ${(after.heap / MiB).toFixed(1)} MiB; ` +
    `rss ${(before.rss / MiB).toFixed(0)} -> ${(after.rss / MiB).toFixed(0)} MiB`)

  t.same(s.logs.lines.filter((l) => (l.level as number) >= 50).map((l) => l.msg), [], 'a vanished client is not logged as an error')
  t.same(s.logs.find(/could not be reached/).map((l) => l.msg), [], 'nor an aborted upload as an unreachable upstream')
  const ok = await rawRequest(s.url, 'GET /registry/after HTTP/1.1')
  t.equal(ok.status, 200, 'a normal request still works')
  t.equal(JSON.parse(ok.body).url, '/after')
})
