// A request pipelined behind one in flight after shutdown has started gets 503 SHUTTING_DOWN problem+json with
// Retry-After, not Fastify's plain JSON.
import { connect } from 'node:net'
import t from 'tap'
import { parseRawResponse, startStack } from '../helpers/proxy-fixture.js'

t.test('pipelined after SIGTERM: the first is answered, the second gets 503 problem+json with Retry-After', async (t) => {
  const s = await startStack(t)
  s.up.setMode({ kind: 'delay-headers', ms: 800 })
  const { port } = new URL(s.url)
  const socket = connect(Number(port), '127.0.0.1')
  let got = ''
  socket.on('data', (c: Buffer) => { got += c.toString('latin1') })
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  const head = (path: string): string => `GET /registry/${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`
  socket.write(head('first'))
  await new Promise((resolve) => setTimeout(resolve, 300))
  const closing = s.sidecar.close(5000)
  // Pipelined behind the one in flight, on the connection that stays open for it, once shutdown has begun.
  await new Promise((resolve) => setTimeout(resolve, 100))
  socket.write(head('second'))
  await closed
  await closing
  const split = got.indexOf('HTTP/1.1', 1)
  t.ok(split > 0, 'two responses on the connection')
  const first = parseRawResponse(got.slice(0, split))
  const second = parseRawResponse(got.slice(split))
  t.equal(first.status, 200, 'the request in flight finished')
  t.equal(second.status, 503)
  t.match(second.headers['content-type'], /^application\/problem\+json/)
  t.equal(second.headers['retry-after'], '1')
  t.equal(second.headers.connection, 'close')
  t.match(JSON.parse(second.body), { status: 503, code: 'SHUTTING_DOWN' })
  t.equal(s.up.requests.filter((r) => r.url === '/second').length, 0, 'the pipelined request never reached the upstream')
})
