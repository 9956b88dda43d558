// What the fuzzer found, pinned down: Expect headers, a missing Host, the bare prefix with a query, a '#' in the path.
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import t, { type Test } from 'tap'
import { parseRawResponse, rawRequest, rawValues, startStack, type RawResponse } from '../helpers/proxy-fixture.js'

/** Sends `bytes` as they are (no Host added) and parses the one response. */
function sendRaw (base: string, bytes: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(base).port), '127.0.0.1')
    let got = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within 5 s: ${got}`)) }, 5000)
    socket.on('data', (c: Buffer) => { got += c.toString('latin1') })
    socket.on('error', reject)
    socket.on('close', () => { clearTimeout(timer); resolve(parseRawResponse(got)) })
    socket.write(bytes)
  })
}

function assertProblem (t: Test, res: RawResponse, status: number, code: string): void {
  t.equal(res.status, status)
  t.match(res.headers['content-type'], /^application\/problem\+json/, 'problem+json, not a bare Node answer')
  t.equal((JSON.parse(res.body) as { code: string }).code, code)
}

t.test('Expect: 100-continue: the client gets 100 Continue, then the upstream\'s answer (not 502)', async (t) => {
  const s = await startStack(t)
  const { port } = new URL(s.url)
  const body = 'x'.repeat(2048)
  const got = await new Promise<{ continued: boolean, status: number, text: string }>((resolve, reject) => {
    let continued = false
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/registry/upload',
      headers: { expect: '100-continue', 'content-length': body.length },
    })
    req.on('continue', () => { continued = true; req.end(body) })
    req.on('response', (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ continued, status: res.statusCode!, text }))
    })
    req.on('error', reject)
  })
  t.ok(got.continued, '100 Continue came first')
  t.equal(got.status, 200, `the upstream's answer: ${got.text.slice(0, 60)}`)
  const rec = s.up.requests.at(-1)!
  t.equal(rec.bodyBytes, body.length, 'the whole body reached the upstream')
  t.same(rawValues(rec.rawHeaders, 'expect'), [], 'without the Expect header, which the sidecar has already answered')
})

t.test('an Expect other than 100-continue is ignored (RFC 9110 §10.1.1 allows it), not answered with a bare 417', async (t) => {
  const s = await startStack(t)
  const res = await rawRequest(s.url, 'POST /registry/x HTTP/1.1\r\nExpect: something-else\r\nContent-Length: 2', 'hi')
  t.equal(res.status, 200)
  t.equal(s.up.requests.length, 1)
  t.same(rawValues(s.up.requests[0]!.rawHeaders, 'expect'), [])
  t.equal(s.up.requests[0]!.bodyText, 'hi')
})

t.test('HTTP/1.1 without Host: 400 problem+json BAD_REQUEST, not a bare 400; HTTP/1.0 needs none', async (t) => {
  const s = await startStack(t)
  const res = await sendRaw(s.url, 'GET /registry/x HTTP/1.1\r\nConnection: close\r\n\r\n')
  assertProblem(t, res, 400, 'BAD_REQUEST')
  t.match(JSON.parse(res.body).detail, /Host/)
  t.equal(s.up.requests.length, 0, 'not forwarded')
  const old = await sendRaw(s.url, 'GET /registry/x HTTP/1.0\r\n\r\n')
  t.equal(old.status, 200, 'HTTP/1.0 without Host is forwarded')
  t.equal(s.up.requests.length, 1)
})

t.test('the bare prefix with a query, on a target without a base path: the upstream gets /?query, not the client\'s prefix', async (t) => {
  const s = await startStack(t)
  const forwarded = [['/registry?a=1', '/?a=1'], ['/registry', '/'], ['/registry/?a=1', '/?a=1'], ['/registry/x?a=1', '/x?a=1']] as const
  for (const [path, want] of forwarded) {
    const res = await rawRequest(s.url, `GET ${path} HTTP/1.1`)
    t.equal(res.status, 200, `${path}: 200`)
    t.equal(s.up.requests.at(-1)?.url, want, `${path}: upstream got ${want}`)
  }
})

t.test('a fragment (#) in the path: 400 BAD_REQUEST, never a 500, never forwarded', async (t) => {
  const base = await startStack(t, { upstream: (upUrl) => ({ target: `${upUrl}/base`, port: 0 }) })
  const fragments = [
    [base.url, '/registry#'], [base.url, '/registry#frag'], [base.url, '/registry/x#frag'], [base.addresses['upstreams.registry']!, '/x#'],
  ] as const
  for (const [listener, path] of fragments) {
    const res = await rawRequest(listener, `GET ${path} HTTP/1.1`)
    assertProblem(t, res, 400, 'BAD_REQUEST')
    t.match(JSON.parse(res.body).detail, /fragment/, path)
  }
  t.equal(base.up.requests.length, 0, 'nothing reached the upstream')
  const query = await rawRequest(base.url, 'GET /registry/x?a#b HTTP/1.1')
  t.equal(query.status, 200, 'a # after the ? belongs to the query, which is not ours to judge')
})
