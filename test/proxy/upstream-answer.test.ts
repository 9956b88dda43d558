// The upstream's answer as the client gets it: Location under the route, odd status lines, 1xx, and a client that leaves early.
import { createServer as createHttpServer, type IncomingMessage } from 'node:http'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startStack } from '../helpers/proxy-fixture.js'
import { until } from '../helpers/sidecar.js'

/** A raw TCP upstream that answers every request with `answer` (status line and headers as written). */
async function rawUpstream (t: Test, answer: string): Promise<string> {
  const sockets = new Set<Socket>()
  const srv = createServer((socket) => {
    sockets.add(socket)
    socket.on('data', () => { socket.write(answer) })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => srv.close(resolve))
  })
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`
}

t.test('Location under the target\'s base path comes back under the route\'s prefix', async (t) => {
  const s = await startStack(t, {
    upstream: (url) => ({ target: `${url}/base` }),
    handler: (req, res) => {
      const location = new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '/'
      res.writeHead(302, { location, 'content-length': 0 }).end()
    },
  })
  const cases: Array<[string, string]> = [
    ['/base/login', '/registry/login'],
    ['/base', '/registry'],
    ['/base?next=1', '/registry?next=1'],
    ['/basement', '/basement'],
    ['/elsewhere', '/elsewhere'],
    ['relative/path', 'relative/path'],
    ['https://idp.example/auth', 'https://idp.example/auth'],
    ['//cdn.example/x', '//cdn.example/x'],
  ]
  for (const [from, want] of cases) {
    const res = await request(`${s.url}/registry/go?to=${encodeURIComponent(from)}`)
    await res.body.dump()
    t.equal(res.statusCode, 302)
    t.equal(res.headers.location, want, `${from} -> ${want}`)
  }
  t.equal(s.up.requests[0]?.url.split('?')[0], '/base/go', 'the upstream got the base path')
})

t.test('Location from a target at the root gets the prefix in front', async (t) => {
  const s = await startStack(t, { handler: (_req, res) => { res.writeHead(303, { location: '/done', 'content-length': 0 }).end() } })
  const res = await request(`${s.url}/registry/submit`, { method: 'POST', body: 'x' })
  await res.body.dump()
  t.equal(res.statusCode, 303)
  t.equal(res.headers.location, '/registry/done')
})

t.test('a status code past 599 is a 502 UPSTREAM_UNREACHABLE, not a crash', async (t) => {
  const target = await rawUpstream(t, 'HTTP/1.1 999 Odd\r\ncontent-length: 2\r\n\r\nhi')
  const s = await startStack(t, { upstream: { target } })
  const res = await request(`${s.url}/registry/odd`)
  const problem = await res.body.json() as { code: string, detail: string }
  t.equal(res.statusCode, 502)
  t.equal(problem.code, 'UPSTREAM_UNREACHABLE')
  t.match(problem.detail, /invalid status code \(999\)/)
  const again = await request(`${s.url}/registry/odd`)
  await again.body.dump()
  t.equal(again.statusCode, 502, 'the sidecar still answers')
})

t.test('a 103 Early Hints before the answer is not taken for the answer', async (t) => {
  const target = await rawUpstream(t, 'HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n' +
    'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nfinal')
  const s = await startStack(t, { upstream: { target } })
  const res = await request(`${s.url}/registry/hints`)
  t.equal(res.statusCode, 200)
  t.equal(await res.body.text(), 'final')
})

t.test('a client that leaves before the answer ends the upstream request too', async (t) => {
  let seen: IncomingMessage | undefined
  let upstreamClosed = false
  const hold = createHttpServer((req) => {
    seen = req
    // Never answers: only the sidecar giving up can end this request.
    req.socket.once('close', () => { upstreamClosed = true })
  })
  await new Promise<void>((resolve) => hold.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { hold.closeAllConnections(); await new Promise((resolve) => hold.close(resolve)) })
  const s = await startStack(t, { upstream: { target: `http://127.0.0.1:${(hold.address() as AddressInfo).port}`, timeout: 60 } })
  const ac = new AbortController()
  const pending = request(`${s.url}/registry/slow`, { signal: ac.signal }).catch((err: unknown) => err)
  await until(() => seen !== undefined, 5000, 'the upstream got the request')
  ac.abort()
  t.match(await pending, { name: 'AbortError' }, 'the client gave up')
  await until(() => upstreamClosed, 5000, 'the upstream request was closed')
  t.ok(upstreamClosed, 'the sidecar closed its upstream request long before the 60 s timeout')
})
