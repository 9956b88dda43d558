// Hop-by-hop headers (RFC 9110 §7.6.1), including those named in Connection, are dropped both ways; end-to-end headers pass.
import type { IncomingMessage, ServerResponse } from 'node:http'
import t from 'tap'
import type { RecordedUpstreamRequest } from '../peers/upstream.js'
import { bearerOf, rawRequest, rawValues, startStack } from '../helpers/proxy-fixture.js'

const FIXED_HOP_BY_HOP = ['keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection', 'transfer-encoding']

function names (r: RecordedUpstreamRequest): string[] {
  return r.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
}

t.test('client hop-by-hop headers are not forwarded', async (t) => {
  const s = await startStack(t)
  const res = await rawRequest(s.url, [
    'GET /registry/hop HTTP/1.1',
    'Connection: close, x-private, X-Other-Private',
    'X-Private: client-secret-ish',
    'x-other-private: 2',
    'Keep-Alive: timeout=5, max=1000',
    'TE: trailers',
    'Trailer: x-checksum',
    'Upgrade: h2c-not-really',
    'Proxy-Connection: keep-alive',
    'X-End-To-End: kept',
    'Accept: application/json',
    'Cache-Control: no-cache',
  ].join('\r\n'))
  t.equal(res.status, 200)
  t.equal(s.up.requests.length, 1)
  const got = s.up.requests[0]!
  const seen = names(got)
  for (const h of [...FIXED_HOP_BY_HOP, 'x-private', 'x-other-private']) t.notOk(seen.includes(h), `${h} not forwarded`)
  t.notOk(/close|private/i.test(String(got.headers.connection ?? '')), 'the client Connection header is not forwarded')
  t.equal(got.headers['x-end-to-end'], 'kept', 'end-to-end header forwarded')
  t.equal(got.headers.accept, 'application/json')
  t.equal(got.headers['cache-control'], 'no-cache')
  t.equal(rawValues(got.rawHeaders, 'authorization').length, 1, 'one Authorization')
})

t.test('Connection: authorization cannot remove the injected token', async (t) => {
  const s = await startStack(t)
  const token = s.sidecar.tokens.usable('registry')!.token
  const variants = [
    'Connection: authorization',
    'Connection: keep-alive, Authorization\r\nAuthorization: Basic Y2xpZW50OnNlY3JldA==',
    'Connection: close, AUTHORIZATION, proxy-authorization',
  ]
  for (const [i, v] of variants.entries()) {
    const res = await rawRequest(s.url, `GET /registry/auth/${i} HTTP/1.1\r\n${v}`)
    t.equal(res.status, 200, `${v}: 200`)
    const got = s.up.requests.at(-1)!
    t.equal(got.url, `/auth/${i}`)
    t.same(rawValues(got.rawHeaders, 'authorization'), [`Bearer ${token}`], `${v}: exactly one Bearer, the IdP token`)
    t.equal(bearerOf(got.headers), token)
  }
  t.equal(s.up.requests.length, variants.length)
})

t.test('upstream hop-by-hop response headers are not passed to the client', async (t) => {
  const handler = (_req: IncomingMessage, res: ServerResponse): void => {
    // no Content-Length: a chunked answer, so Trailer is legal
    res.writeHead(200, {
      Connection: 'x-up-private, X-Up-Other',
      'X-Up-Private': '1',
      'x-up-other': '2',
      'Keep-Alive': 'timeout=5, max=99',
      'Proxy-Connection': 'keep-alive',
      Trailer: 'x-digest',
      Upgrade: 'h2c-not-really',
      'X-E2E': 'yes',
      'Cache-Control': 'private, max-age=60',
      ETag: '"v1"',
      'Content-Type': 'application/json',
    })
    res.write('{"ok":')
    res.addTrailers({ 'x-digest': 'abc' })
    res.end('true}')
  }
  const s = await startStack(t, { handler })
  const res = await rawRequest(s.url, 'GET /registry/resp HTTP/1.1')
  t.equal(res.status, 200)
  t.equal(res.body, '{"ok":true}', 'body intact')
  for (const h of ['x-up-private', 'x-up-other', 'proxy-connection', 'trailer', 'upgrade']) {
    t.equal(res.headers[h], undefined, `${h} not passed to the client`)
  }
  t.notOk(/max=99/.test(res.headers['keep-alive'] ?? ''), 'the upstream Keep-Alive is not passed on')
  t.notOk(/x-up/i.test(res.headers.connection ?? ''), 'the upstream Connection header is not passed on')
  t.equal(res.headers['x-e2e'], 'yes', 'end-to-end header passed')
  t.equal(res.headers['cache-control'], 'private, max-age=60')
  t.equal(res.headers.etag, '"v1"')
  t.equal(res.headers['content-type'], 'application/json')
  t.equal(s.up.requests.length, 1)
})
