// An upstream 401 drops the refused token (once per token), fetches a fresh one and replays a replayable request exactly once.
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { listenPeer, readBody } from '../peers/peer-kit.js'
import type { RecordedUpstreamRequest } from '../peers/upstream.js'
import { until } from '../helpers/sidecar.js'
import { bearerOf, metricValue, rawValues, startStack } from '../helpers/proxy-fixture.js'

const RETRIES = 'tokenproxy_upstream_auth_retries_total'
/** For the cases that send many 401s in a row: without the refetch floor (test/proxy/refetch-floor.test.ts), each gets a fresh token. */
const NO_FLOOR = { build: { refetchLimit: { max: Infinity, windowMs: 0 } } }
/** Yields each part after a pause, so the body reaches the sidecar as a real chunked stream. */
async function * slowly (parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    yield Buffer.from(p)
  }
}
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

t.test('GET: the refused token is replaced and the request replayed once', async (t) => {
  const s = await startStack(t)
  t.equal(s.idp.tokenRequests, 1, 'one token at start')
  const old = s.idp.issued[0]!
  s.up.setMode({ kind: 'reject', tokens: new Set([old]) })

  const res = await request(`${s.url}/registry/items?page=2`)
  t.equal(res.statusCode, 200, 'client sees the replay answer')
  const echoed = await res.body.json() as { url: string, authorization: string }
  t.equal(s.up.requests.length, 2, 'upstream saw the original and one replay')
  const [first, second] = s.up.requests as [RecordedUpstreamRequest, RecordedUpstreamRequest]
  t.equal(bearerOf(first.headers), old, 'first attempt carried the old token')
  const fresh = bearerOf(second.headers)
  t.not(fresh, old, 'replay carried another token')
  t.equal(fresh, s.idp.issued[1], 'the replay token is the one fetched after the 401')
  t.equal(second.url, '/items?page=2', 'replay goes to the same path and query')
  t.equal(second.method, 'GET')
  t.equal(rawValues(second.rawHeaders, 'authorization').length, 1, 'replay has exactly one Authorization')
  t.equal(echoed.authorization, `Bearer ${fresh}`, 'client got the replay response body')
  t.equal(s.idp.tokenRequests, 2, 'IdP saw exactly one extra token request')
  t.equal(metricValue(await s.scrape(), RETRIES, { upstream: 'registry' }), 1, 'one auth retry counted')
  t.notOk(s.sidecar.tokens.usable('registry')?.token === old, 'the refused token is no longer current')

  const next = await request(`${s.url}/registry/again`)
  t.equal(next.statusCode, 200)
  await next.body.dump()
  t.equal(bearerOf(s.up.requests[2]!.headers), fresh, 'later requests use the fresh token without another fetch')
  t.equal(s.idp.tokenRequests, 2)
})

t.test('POST with a small body is replayed with the identical body and content-type', async (t) => {
  const s = await startStack(t, NO_FLOOR)
  const cases: Array<{ type: string, body: string }> = [
    {
      type: 'application/json; charset=UTF-8',
      body: JSON.stringify({ processDefinitionKey: 'demo', note: 'été ✓', pad: 'x'.repeat(200_000) }),
    },
    {
      type: 'multipart/form-data; boundary=----tokenproxyBoundary7MA4YWxk',
      body: '------tokenproxyBoundary7MA4YWxk\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n' +
        'Content-Type: text/plain\r\n\r\nhello\r\n------tokenproxyBoundary7MA4YWxk--\r\n',
    },
    // The largest replayable body: SPEC says "buffered under 1 MiB".
    { type: 'application/octet-stream', body: 'z'.repeat(1024 * 1024 - 1) },
  ]
  let retries = 0
  for (const c of cases) {
    const before = s.up.requests.length
    const current = s.sidecar.tokens.usable('registry')!.token
    s.up.setMode({ kind: 'reject', tokens: new Set([current]) })
    const res = await request(`${s.url}/registry/submit`, { method: 'POST', headers: { 'content-type': c.type }, body: c.body })
    t.equal(res.statusCode, 200, `${c.type}: client sees 200`)
    await res.body.dump()
    retries++
    const got = s.up.requests.slice(before)
    t.equal(got.length, 2, `${c.type}: upstream saw 2 requests`)
    const want = sha256(c.body)
    for (const [i, r] of got.entries()) {
      t.equal(r.method, 'POST', `${c.type}: attempt ${i + 1} is a POST`)
      t.ok(r.complete, `${c.type}: attempt ${i + 1} body complete`)
      t.equal(r.bodyBytes, Buffer.byteLength(c.body), `${c.type}: attempt ${i + 1} body length`)
      t.equal(r.bodySha256, want, `${c.type}: attempt ${i + 1} body sha256`)
      t.same(rawValues(r.rawHeaders, 'content-type'), [c.type], `${c.type}: attempt ${i + 1} content-type exact`)
    }
    t.equal(bearerOf(got[0]!.headers), current)
    t.not(bearerOf(got[1]!.headers), current, `${c.type}: replay used a fresh token`)
  }
  t.equal(metricValue(await s.scrape(), RETRIES, { upstream: 'registry' }), retries)
})

t.test('a burst of 401s for the same token causes a single token fetch', async (t) => {
  const N = 20
  let old = ''
  const held: Array<() => void> = []
  let released = 0
  const releaseAll = (): void => { while (released < held.length) held[released++]!() }
  /** Holds every request carrying the old token until all N are in, then refuses them together. */
  const handler = (req: IncomingMessage, res: ServerResponse, rec: RecordedUpstreamRequest): void => {
    const token = bearerOf(req.headers)
    if (token === old) {
      held.push(() => {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' })
          .end('{"error":"invalid_token"}')
      })
      if (held.length === 1) setTimeout(releaseAll, 3000).unref() // don't hang if fewer than N ever arrive
      if (held.length === N || released > 0) releaseAll()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, url: rec.url }))
  }
  const s = await startStack(t, { handler })
  old = s.sidecar.tokens.usable('registry')!.token
  t.equal(s.idp.tokenRequests, 1)

  const answers = await Promise.all(Array.from({ length: N }, async (_, i) => {
    const res = await request(`${s.url}/registry/burst/${i}`)
    return { status: res.statusCode, body: await res.body.json() as { token: string, url: string } }
  }))
  t.same(answers.map((a) => a.status), Array(N).fill(200), 'every request succeeds after its replay')
  t.equal(held.length, N, 'all N requests reached the upstream with the old token')
  const fresh = new Set(answers.map((a) => a.body.token))
  t.equal(fresh.size, 1, 'all replays used the same fresh token')
  t.notOk(fresh.has(old))
  t.same(answers.map((a) => a.body.url).sort(), Array.from({ length: N }, (_, i) => `/burst/${i}`).sort(),
    'each replay went to its own path')
  t.equal(s.up.requests.length, 2 * N, 'upstream saw each request twice')
  t.equal(s.idp.tokenRequests, 2, 'IdP saw exactly one extra token request')
  t.equal(metricValue(await s.scrape(), RETRIES, { upstream: 'registry' }), N, 'one retry per request')
})

t.test('an upstream that refuses every token gets one replay per request, and the client gets the 401', async (t) => {
  const s = await startStack(t, NO_FLOOR)
  s.up.setMode({ kind: 'reject', tokens: 'all' })
  for (let i = 1; i <= 2; i++) {
    const res = await request(`${s.url}/registry/loop`)
    t.equal(res.statusCode, 401, `request ${i}: the upstream's 401 goes back`)
    t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', `request ${i}: upstream challenge passed through`)
    t.same(await res.body.json(), { error: 'invalid_token' }, `request ${i}: upstream body passed through`)
    t.equal(s.up.requests.length, 2 * i, `request ${i}: exactly one replay`)
    const [a, b] = s.up.requests.slice(-2) as [RecordedUpstreamRequest, RecordedUpstreamRequest]
    t.not(bearerOf(a.headers), bearerOf(b.headers), `request ${i}: replay used a fresh token`)
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  // one fetch per request for the original token; a refused fresh token may or may not be dropped too
  t.ok(s.idp.tokenRequests >= 3 && s.idp.tokenRequests <= 5,
    `IdP not hammered (${s.idp.tokenRequests} token requests for 2 client requests)`)
  t.equal(s.up.requests.length, 4, 'no further upstream requests')
  t.equal(metricValue(await s.scrape(), RETRIES, { upstream: 'registry' }), 2, 'one retry per request')
})

t.test('a streamed body that gets a 401 is not replayed; the 401 goes back', async (t) => {
  const s = await startStack(t, NO_FLOOR)
  const big = Buffer.alloc(2 * 1024 * 1024, 'b')
  const bodies: Array<{ what: string, make: () => { body: Buffer | Readable, headers: Record<string, string> }, bytes: number }> = [
    {
      what: 'chunked',
      make: () => ({ body: Readable.from(slowly(['{"a":', '1}'])), headers: { 'content-type': 'application/json' } }),
      bytes: 7,
    },
    {
      what: 'declared over 1 MiB',
      make: () => ({ body: big, headers: { 'content-type': 'application/octet-stream' } }),
      bytes: big.length,
    },
    {
      what: 'declared exactly 1 MiB',
      make: () => ({ body: big.subarray(0, 1024 * 1024), headers: { 'content-type': 'application/octet-stream' } }),
      bytes: 1024 * 1024,
    },
  ]
  let fetches = 1
  for (const b of bodies) {
    const before = s.up.requests.length
    const current = s.sidecar.tokens.usable('registry')!.token
    s.up.setMode({ kind: 'reject', tokens: new Set([current]) })
    const { body, headers } = b.make()
    const res = await request(`${s.url}/registry/upload`, { method: 'PUT', headers, body })
    t.equal(res.statusCode, 401, `${b.what}: client gets the 401`)
    t.same(await res.body.json(), { error: 'invalid_token' }, `${b.what}: upstream body passed through`)
    const got = s.up.requests.slice(before)
    t.equal(got.length, 1, `${b.what}: no replay`)
    t.equal(got[0]!.bodyBytes, b.bytes, `${b.what}: the one attempt got the whole body`)
    if (b.what === 'chunked') t.equal(got[0]!.headers['transfer-encoding'], 'chunked', 'the body really was chunked')
    // the refused token is still dropped, so the next request uses a fresh one
    fetches++
    await until(() => s.idp.tokenRequests === fetches, 3000, `token fetch ${fetches}`)
    const next = await request(`${s.url}/registry/after`)
    t.equal(next.statusCode, 200, `${b.what}: next request succeeds`)
    await next.body.dump()
    t.not(bearerOf(s.up.requests.at(-1)!.headers), current, `${b.what}: next request carries a fresh token`)
  }
  t.equal(metricValue(await s.scrape(), RETRIES, { upstream: 'registry' }), 0, 'no replay counted')
})

/** A bare upstream for the timing tests: `onRequest` sees each request as its headers arrive, before any body. */
async function earlyUpstream (t: Test, onRequest: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const peer = await listenPeer(onRequest, (_req, res) => { res.writeHead(500).end() })
  t.teardown(() => peer.close())
  return peer.origin
}

t.test('a replayable body is forwarded as it arrives, not after the client has sent all of it', async (t) => {
  let firstPart: (() => void) | undefined
  const sawFirstPart = new Promise<void>((resolve) => { firstPart = resolve })
  const target = await earlyUpstream(t, (req, res) => {
    req.once('data', () => firstPart!())
    void readBody(req).then((b) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${Buffer.byteLength(b)} ${sha256(b)}`))
  })
  const s = await startStack(t, { upstream: () => ({ target }) })
  const head = Buffer.alloc(1000, 'h')
  const tail = Buffer.alloc(1000, 't')
  let early = false
  async function * body (): AsyncGenerator<Buffer> {
    yield head
    // A store-and-forward proxy would hold the first part until the last: give up waiting after 3 s.
    early = await Promise.race([sawFirstPart.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3000))])
    yield tail
  }
  const res = await request(`${s.url}/registry/upload`, {
    method: 'POST', body: Readable.from(body()), headers: { 'content-type': 'application/octet-stream', 'content-length': '2000' },
  })
  t.equal(res.statusCode, 200)
  t.equal(await res.body.text(), `2000 ${sha256(Buffer.concat([head, tail]))}`, 'the upstream got the whole body')
  t.ok(early, 'the upstream had the first 1000 bytes while the client still held back the rest')
})

t.test('a 401 sent before the body has fully arrived: the replay still carries the whole body', async (t) => {
  let refused = ''
  const attempts: Array<{ token: string | null, bytes: number, sha: string }> = []
  const target = await earlyUpstream(t, (req, res) => {
    const token = bearerOf(req.headers)
    if (refused === '') refused = token ?? ''
    if (token === refused) {
      // Refuse at once, without reading the body (as an auth filter in front of a real service does).
      attempts.push({ token, bytes: -1, sha: '' })
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' })
        .end('{"error":"invalid_token"}')
      req.resume()
      return
    }
    void readBody(req).then((b) => {
      attempts.push({ token, bytes: Buffer.byteLength(b), sha: sha256(b) })
      res.writeHead(200, { 'content-type': 'text/plain' }).end('stored')
    })
  })
  const s = await startStack(t, { upstream: () => ({ target }) })
  const parts = [Buffer.alloc(30_000, 'a'), Buffer.alloc(30_000, 'b'), Buffer.alloc(30_000, 'c')]
  async function * body (): AsyncGenerator<Buffer> {
    for (const p of parts) {
      yield p
      await new Promise((resolve) => setTimeout(resolve, 150))
    }
  }
  const res = await request(`${s.url}/registry/upload`, {
    method: 'PUT', body: Readable.from(body()), headers: { 'content-type': 'application/octet-stream', 'content-length': '90000' },
  })
  t.equal(res.statusCode, 200, 'the client sees the replay\'s answer')
  t.equal(await res.body.text(), 'stored')
  t.equal(attempts.length, 2, 'one refusal, one replay')
  t.equal(attempts[0]!.token, refused)
  t.not(attempts[1]!.token, refused, 'the replay carries a fresh token')
  t.equal(attempts[1]!.bytes, 90_000, 'the replay carries all 90,000 bytes')
  t.equal(attempts[1]!.sha, sha256(Buffer.concat(parts)), 'in order')
  t.equal(metricValue(await s.scrape(), RETRIES, { upstream: 'registry' }), 1)
})
