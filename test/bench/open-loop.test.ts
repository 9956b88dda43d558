// The open-loop client against real node:http and node:net servers on loopback: rate, queueing, chunked, Connection: close, resets.
import { createServer as createHttpServer, type RequestListener } from 'node:http'
import { createServer as createNetServer, type Server } from 'node:net'
import t, { type Test } from 'tap'
import { percentile, runOpenLoop, startOpenLoopClient } from './open-loop.js'

async function listen (t: Test, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.()
    server.close(() => resolve())
  }))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}
const http = async (t: Test, handler: RequestListener): Promise<string> => await listen(t, createHttpServer(handler))

t.test('percentile is the nearest rank', async (t) => {
  const xs = Float64Array.from({ length: 1000 }, (_, i) => i + 1)
  t.equal(percentile(xs, 0.5), 500)
  t.equal(percentile(xs, 0.99), 990)
  t.equal(percentile(xs, 0.999), 999)
  t.equal(percentile(xs, 1), 1000)
  t.equal(percentile([7], 0.999), 7)
  t.ok(Number.isNaN(percentile([], 0.5)))
})

t.test('against a fast server it holds the offered rate, all 2xx', async (t) => {
  const base = await http(t, (_req, res) => res.end('ok'))
  const r = await runOpenLoop({ url: `${base}/small`, rate: 200, connections: 4, seconds: 1 })
  t.ok(r.rps >= 170 && r.rps <= 230, `about 200 req/s: ${r.rps}`)
  t.equal(r.scheduled, 200, 'one request every 5 ms for 1 s')
  t.equal(r.non2xx + r.errors + r.unfinished, 0)
  t.ok(r.p50Ms > 0 && r.p50Ms < 20, `fast: p50 ${r.p50Ms} ms`)
  t.ok(r.p50Ms <= r.p90Ms && r.p90Ms <= r.p99Ms && r.p99Ms <= r.p999Ms && r.p999Ms <= r.maxMs)
})

t.test('a slow server: latency counts from the scheduled time, so queueing shows', async (t) => {
  const base = await http(t, (_req, res) => { setTimeout(() => res.end('slow'), 50) })
  // 100 req/s offered on one connection that can do 20: the queue grows by 80 a second.
  const r = await runOpenLoop({ url: `${base}/`, rate: 100, connections: 1, seconds: 1, drainMs: 300 })
  t.ok(r.p99Ms > 500, `p99 ${r.p99Ms} ms is far above the 50 ms a closed-loop client would see`)
  t.ok(r.p50Ms > 200, `p50 ${r.p50Ms} ms`)
  t.ok(r.rps >= 17 && r.rps <= 21, `achieved ${r.rps} req/s, the 20 it can do, not the 100 offered`)
  t.ok(r.unfinished > 50, `${r.unfinished} requests still queued at the end`)
  t.equal(r.errors + r.non2xx, 0)
})

t.test('chunked bodies, Connection: close, non-2xx and an interim 100 are parsed', async (t) => {
  let i = 0
  const base = await http(t, (req, res) => {
    i++
    if (req.url === '/chunked') {
      res.writeHead(i % 5 === 0 ? 503 : 200, { 'content-type': 'text/plain' })
      res.write('a'.repeat(3000))
      setImmediate(() => { res.write('b'.repeat(17)); res.end('c') })
    } else {
      if (i % 3 === 0) res.writeContinue()
      res.writeHead(200, { connection: 'close', 'content-length': 2 }).end('ok')
    }
  })
  const chunked = await runOpenLoop({ url: `${base}/chunked`, rate: 200, connections: 2, seconds: 0.5 })
  t.equal(chunked.answered, 100)
  t.equal(chunked.errors, 0)
  t.ok(chunked.non2xx >= 15 && chunked.non2xx <= 25, `every 5th is a 503: ${chunked.non2xx}`)
  const closing = await runOpenLoop({ url: `${base}/close`, rate: 200, connections: 2, seconds: 0.5 })
  t.equal(closing.answered, 100, 'reconnects after each Connection: close')
  t.equal(closing.errors + closing.non2xx + closing.unfinished, 0)
})

t.test('a server that resets sockets gives counted errors, not a crash', async (t) => {
  const base = await listen(t, createNetServer((socket) => {
    socket.once('data', () => socket.resetAndDestroy())
  }))
  const r = await runOpenLoop({ url: `${base}/`, rate: 100, connections: 2, seconds: 0.5 })
  t.ok(r.errors >= 40, `${r.errors} errors`)
  t.equal(r.requests + r.answered, 0)
})

t.test('a refused port gives counted connection errors', async (t) => {
  const gone = createNetServer()
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve))
  const { port } = gone.address() as { port: number }
  await new Promise((resolve) => gone.close(resolve))
  const r = await runOpenLoop({ url: `http://127.0.0.1:${port}/`, rate: 50, connections: 1, seconds: 0.3, drainMs: 100 })
  t.ok(r.errors > 0, `${r.errors} failed connection attempts`)
  t.equal(r.requests, 0)
})

t.test('the forked client reports the window and the result over IPC', async (t) => {
  const base = await http(t, (_req, res) => res.end('ok'))
  const client = await startOpenLoopClient()
  t.teardown(() => client.close())
  const seen: string[] = []
  const r = await client.run({ url: `${base}/`, rate: 100, connections: 2, seconds: 0.5, warmupSeconds: 0.2 },
    { onWindowStart: () => seen.push('start'), onWindowEnd: () => seen.push('end') })
  t.same(seen, ['start', 'end'])
  t.equal(r.scheduled, 50, 'the warm-up is not counted')
  t.equal(r.answered, 50)
  t.ok(r.requests >= 49 && r.requests <= 51, `${r.requests} responses in the window`)
  t.equal(r.errors + r.non2xx, 0)
})
