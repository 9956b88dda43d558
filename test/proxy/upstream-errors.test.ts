// Upstream failures reach the client as 502 UPSTREAM_UNREACHABLE / 504 UPSTREAM_TIMEOUT problem+json (or a cut body),
// and the sidecar keeps serving.
import { createServer, type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { request, type Dispatcher } from 'undici'
import { startStack, type ProxyStack } from '../helpers/proxy-fixture.js'

/** A loopback port that nothing listens on (bound, then released). */
async function closedPort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

/** Asserts a problem+json answer with `status` and `code` naming upstream "registry", and no token in it. */
async function assertProblem (t: Test, s: ProxyStack, res: Dispatcher.ResponseData, status: number,
  code: string): Promise<Record<string, unknown>> {
  const text = await res.body.text()
  t.equal(res.statusCode, status, `${code}: HTTP status`)
  t.equal(String(res.headers['content-type']).split(';')[0], 'application/problem+json', `${code}: content-type`)
  const problem = JSON.parse(text) as Record<string, unknown>
  t.equal(problem.status, status, `${code}: status member`)
  t.equal(problem.code, code, `${code}: code member`)
  t.equal(problem.upstream, 'registry', `${code}: names the upstream`)
  t.match(problem.detail, /registry/, `${code}: detail names the upstream`)
  t.ok(s.idp.issued.length > 0, 'a token had been issued')
  for (const token of s.idp.issued) {
    t.notOk(text.includes(token), `${code}: no token in the body`)
    t.notOk(text.includes(token.split('.')[2]!), `${code}: not even the token's signature`)
  }
  t.notOk(text.includes('test-secret'), `${code}: no client secret in the body`)
  return problem
}

async function assertStillServing (t: Test, s: ProxyStack): Promise<void> {
  s.up.setMode({ kind: 'echo' })
  const before = s.up.requests.length
  const res = await request(`${s.url}/registry/next`)
  t.equal(res.statusCode, 200, 'the next request is served')
  t.equal((await res.body.json() as { url: string }).url, '/next')
  t.equal(s.up.requests.length, before + 1)
}

t.test('connection refused: 502 UPSTREAM_UNREACHABLE', async (t) => {
  const port = await closedPort()
  const s = await startStack(t, { upstream: { target: `http://127.0.0.1:${port}` } })
  const res = await request(`${s.url}/registry/start-bp`)
  const problem = await assertProblem(t, s, res, 502, 'UPSTREAM_UNREACHABLE')
  t.equal(problem.instance, '/registry/start-bp', 'instance is the request path')
  t.equal(s.up.requests.length, 0)
})

t.test('upstream resets the connection before answering: 502 UPSTREAM_UNREACHABLE', async (t) => {
  const s = await startStack(t)
  s.up.setMode({ kind: 'reset' })
  const res = await request(`${s.url}/registry/reset`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
  await assertProblem(t, s, res, 502, 'UPSTREAM_UNREACHABLE')
  t.equal(s.up.requests.length, 1, 'the POST reached the upstream once (not retried)')
  await assertStillServing(t, s)
})

t.test('no response headers within upstreams.NAME.timeout: 504 UPSTREAM_TIMEOUT', async (t) => {
  const s = await startStack(t, { upstream: { timeout: 1 } })
  s.up.setMode({ kind: 'delay-headers', ms: 3000 })
  const res = await request(`${s.url}/registry/slow`)
  const problem = await assertProblem(t, s, res, 504, 'UPSTREAM_TIMEOUT')
  t.match(problem.detail, /1s/, 'detail gives the configured timeout')
  t.equal(s.up.requests.length, 1)
  await assertStillServing(t, s)
})

t.test('an upstream error answer is passed through once, not retried', async (t) => {
  const s = await startStack(t)
  for (const status of [500, 502, 503, 504]) {
    s.up.setMode({ kind: 'status', status, body: `{"upstream":"says ${status}"}` })
    const before = s.up.requests.length
    const res = await request(`${s.url}/registry/busy`)
    t.equal(res.statusCode, status, `${status}: status passed through`)
    t.equal(res.headers['content-type'], 'application/json', `${status}: upstream content-type kept`)
    t.same(await res.body.json(), { upstream: `says ${status}` }, `${status}: upstream body passed through`)
    t.equal(s.up.requests.length - before, 1, `${status}: upstream saw exactly one request`)
  }
})

t.test('upstream resets mid-body: the client response is cut, the sidecar keeps serving', async (t) => {
  const s = await startStack(t)
  s.up.setMode({ kind: 'reset-mid-body' })
  const res = await request(`${s.url}/registry/partial`)
  t.equal(res.statusCode, 200, 'headers had already been sent')
  t.equal(res.headers['content-length'], '100000', 'the declared length is passed through')
  let received = 0
  const outcome = await (async () => {
    try {
      for await (const chunk of res.body) received += (chunk as Buffer).length
      return 'ended'
    } catch (err) {
      return `error: ${(err as Error).message}`
    }
  })()
  t.match(outcome, /^error/, 'the client sees the body fail, not a clean end')
  t.ok(received < 100_000, `the body is truncated (${received} of 100000 bytes)`)
  await assertStillServing(t, s)
})
