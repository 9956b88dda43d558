// One route cannot be frozen: stalled bodies get 408, silent connections are closed, a request waiting for a
// busy upstream's connection gets 504 within the upstream's timeout, and the connection count is configurable.
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { rawRequest, startStack } from '../helpers/proxy-fixture.js'

/** Fast limits so that each case takes about a second. */
const LIMITS = { headersTimeout: 1, bodyTimeout: 1, idleTimeout: 1 }

/** Opens a socket to `base` and writes `text`; resolves with everything read when the server closes it. */
function hold (base: string, text: string): { socket: Socket, closed: Promise<{ got: string, ms: number }> } {
  const { port } = new URL(base)
  const start = Date.now()
  const socket = connect(Number(port), '127.0.0.1')
  let got = ''
  socket.on('data', (c: Buffer) => { got += c.toString('latin1') })
  socket.on('error', () => undefined)
  if (text !== '') socket.write(text)
  const closed = new Promise<{ got: string, ms: number }>((resolve) => socket.on('close', () => resolve({ got, ms: Date.now() - start })))
  return { socket, closed }
}

t.test('a body that stalls after one byte: 408 REQUEST_TIMEOUT problem+json, the connection closed', async (t) => {
  const s = await startStack(t, { doc: { listen: { host: '127.0.0.1', port: 0, ...LIMITS } } })
  const start = Date.now()
  const res = await rawRequest(s.url,
    'POST /registry/upload HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: keep-alive', '{')
  const ms = Date.now() - start
  t.equal(res.status, 408)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.equal(res.headers.connection, 'close')
  t.match(JSON.parse(res.body), { status: 408, code: 'REQUEST_TIMEOUT', detail: /stalled: no byte for 1s/ })
  t.ok(ms < 4000, `answered after ${ms} ms (bodyTimeout 1 s)`)
})

t.test('a connection that sends nothing, or a partial head, is closed after headersTimeout with 408', async (t) => {
  const s = await startStack(t, { doc: { listen: { host: '127.0.0.1', port: 0, ...LIMITS } } })
  const silent = hold(s.url, '')
  const partial = hold(s.url, 'GET /registry/x HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  const [a, b] = await Promise.all([silent.closed, partial.closed])
  for (const [what, r] of [['nothing sent', a], ['partial head', b]] as const) {
    t.ok(r.ms < 5000, `${what}: closed after ${r.ms} ms (headersTimeout 1 s; Node's defaults held it 60-90 s)`)
    t.match(r.got, /^HTTP\/1\.1 408 Request Timeout\r\n/, `${what}: 408`)
    t.match(r.got, /content-type: application\/problem\+json/, `${what}: problem+json`)
    t.match(r.got, /"code":"REQUEST_TIMEOUT"/, `${what}: the code`)
  }
})

t.test('an idle kept-alive connection is closed after idleTimeout', async (t) => {
  const s = await startStack(t, { doc: { listen: { host: '127.0.0.1', port: 0, ...LIMITS } } })
  const conn = hold(s.url, 'GET /registry/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
  const r = await conn.closed
  t.match(r.got, /^HTTP\/1\.1 200 OK/, 'the request was answered')
  t.ok(r.ms < 5000, `then the idle connection was closed after ${r.ms} ms (idleTimeout 1 s; 72 s before)`)
})

t.test('with every upstream connection held by stalled uploads, a request waits at most the upstream timeout: 504', async (t) => {
  const s = await startStack(t, {
    doc: { listen: { host: '127.0.0.1', port: 0, headersTimeout: 10, bodyTimeout: 30, idleTimeout: 5 } },
    upstream: { connections: 2, timeout: 1 },
  })
  // Two uploads that send their headers and one body byte, then nothing: each holds one of the two connections.
  const stalled = [0, 1].map(() => hold(s.url,
    'POST /registry/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nx'))
  t.teardown(() => { for (const c of stalled) c.socket.destroy() })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const start = Date.now()
  const res = await request(`${s.url}/registry/queued`, { headersTimeout: 60_000 })
  const ms = Date.now() - start
  const problem = await res.body.json() as Record<string, unknown>
  t.equal(res.statusCode, 504)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(problem, { code: 'UPSTREAM_TIMEOUT', upstream: 'registry', detail: /within 1s \(waiting for a connection/ })
  t.ok(ms < 4000, `the queued request was answered after ${ms} ms (upstream timeout 1 s)`)
  t.equal(s.up.requests.filter((r) => r.url === '/queued').length, 0, 'it never reached the upstream meanwhile')
  // The stalled uploads are the client's fault: bounded by bodyTimeout, not cut as an upstream timeout.
  t.equal(stalled.filter((c) => c.socket.destroyed).length, 0, 'the slow uploads are still open (their limit is bodyTimeout, 30 s)')
  t.comment(`frozen-route wait: ${ms} ms with 2 of 2 upstream connections held by stalled uploads`)
})

const attackTitle = 'the attack as reported: 128 uploads stalled after one byte hold the default 128 connections; ' +
  'the route still answers, in bounded time'
t.test(attackTitle, async (t) => {
  const s = await startStack(t, {
    doc: { listen: { host: '127.0.0.1', port: 0, bodyTimeout: 2 } },
    upstream: { timeout: 1 },
  })
  const stalled = Array.from({ length: 128 },
    () => hold(s.url, 'POST /registry/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nx'))
  t.teardown(() => { for (const c of stalled) c.socket.destroy() })
  await new Promise((resolve) => setTimeout(resolve, 500))
  const start = Date.now()
  const res = await request(`${s.url}/registry/after-the-flood`, { headersTimeout: 60_000 })
  await res.body.text()
  const ms = Date.now() - start
  t.ok([200, 504].includes(res.statusCode), `answered ${res.statusCode}`)
  t.ok(ms < 5000, `after ${ms} ms (it waited over 40 s before)`)
  const ends = await Promise.all(stalled.map(async (c) => await c.closed))
  t.same([...new Set(ends.map((e) => /^HTTP\/1\.1 (\d+)/.exec(e.got)?.[1]))], ['408'], 'every stalled upload got 408')
  t.ok(Math.max(...ends.map((e) => e.ms)) < 8000,
    `all ${ends.length} closed within ${Math.max(...ends.map((e) => e.ms))} ms (bodyTimeout 2 s)`)
  t.comment(`frozen-route wait with 128 of 128 default connections held: ${ms} ms (${res.statusCode})`)
})

t.test('upstreams.NAME.connections is checked like every other key', async (t) => {
  const { configProblems } = await import('../helpers/config-problems.js')
  const doc = (extra: Record<string, unknown>): string => JSON.stringify({
    listen: { headersTimeout: 0, bodyTimeout: 'x', idleTimeout: 5000, replayBudget: -1, ...extra },
    credentials: { kc: { type: 'keycloak', tokenUrl: 'https://kc.example.org/t', clientId: 'c', clientSecret: 's' } },
    upstreams: { a: { target: 'https://a.example.org', credential: 'kc', prefix: '/a', connections: 0 } },
  })
  t.same(configProblems(doc({})), [
    'listen.headersTimeout: must be greater than 0 (got 0)',
    'listen.bodyTimeout: must be a number (got "x")',
    'listen.idleTimeout: must be at most 3600 (got 5000)',
    'listen.replayBudget: must be at least 0 (got -1)',
    'upstreams.a.connections: must be at least 1 (got 0)',
  ])
})
