// However many requests need a token at once, a credential has one token request in flight; early requests wait for the first fetch.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until, type Running } from '../helpers/sidecar.js'

async function peers (t: Test) {
  const kc = await startKeycloak()
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const doc = (extra: Record<string, unknown> = {}) => ({
    credentials: {
      kc: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: 'test-secret', ...extra },
    },
    upstreams: { api: { target: up.url, credential: 'kc', prefix: '/api' } },
  })
  return { kc, up, doc }
}

/** Counts requests as the shared listener reads them (a passive listener on the real server). */
function arrivals (running: Running): { count: number } {
  const seen = { count: 0 }
  running.sidecar.listeners.find((l) => l.name === 'listen')!.server.on('request', () => { seen.count++ })
  return seen
}

async function readyz (admin: string): Promise<{ status: number, body: any }> {
  const res = await request(`${admin}/readyz`)
  return { status: res.statusCode, body: await res.body.json() }
}

t.test('100 concurrent requests during the first fetch cause exactly one token request', async (t) => {
  const { kc, up, doc } = await peers(t)
  kc.setFault({ kind: 'delay', ms: 500, times: 1 })
  const running = await startSidecar(t, doc())
  const seen = arrivals(running)
  const responses = Array.from({ length: 100 }, (_, i) => request(`${running.url}/api/item/${i}`).then(async (res) => ({
    status: res.statusCode, body: await res.body.json() as { url: string, authorization: string },
  })))
  await until(() => seen.count === 100, 5000, 'all 100 requests to reach the sidecar')
  t.equal(kc.issued.length, 0, 'all 100 arrived while the first token was still being fetched')
  t.equal(up.requests.length, 0, 'nothing was forwarded before the token arrived')

  const results = await Promise.all(responses)
  t.same(results.map((r) => r.status), Array(100).fill(200), 'all 100 succeed')
  t.equal(kc.tokenRequests, 1, 'the IdP saw exactly one token request')
  t.equal(kc.issued.length, 1, 'and issued one token')
  const token = kc.issued[0]!
  t.equal(up.requests.length, 100, 'the upstream got all 100')
  const auths = new Set(up.requests.map((r) => r.headers.authorization))
  t.same([...auths], [`Bearer ${token}`], 'every upstream request carried that same token')
  t.same(new Set(results.map((r) => r.body.url)), new Set(Array.from({ length: 100 }, (_, i) => `/item/${i}`)),
    'each request reached its own path')

  const metrics = await (await request(`${running.admin}/metrics`)).body.text()
  t.match(metrics, /^tokenproxy_token_requests_total\{credential="kc",outcome="success"\} 1$/m, 'one successful token request counted')
})

t.test('a request arriving during the first fetch waits for it instead of failing', async (t) => {
  const { kc, up, doc } = await peers(t)
  kc.setFault({ kind: 'delay', ms: 500, times: 1 })
  const running = await startSidecar(t, doc())
  const seen = arrivals(running)
  const pending = request(`${running.url}/api/first`)
  await until(() => seen.count === 1, 5000, 'the request to reach the sidecar')
  const during = await readyz(running.admin)
  t.equal(during.status, 503, 'not ready yet')
  t.equal(during.body.credentials.kc.state, 'pending', 'the first fetch is still in flight')
  t.equal(kc.issued.length, 0, 'no token issued yet when the request arrived')

  const res = await pending
  t.equal(res.statusCode, 200, 'the early request succeeds once the token arrives')
  const body = await res.body.json() as { authorization: string }
  t.equal(body.authorization, `Bearer ${kc.issued[0]}`)
  t.equal(kc.tokenRequests, 1)
  t.equal(up.requests.length, 1)
})

t.test('the wait is bounded by the token-request timeout', async (t) => {
  const { kc, up, doc } = await peers(t)
  kc.setFault({ kind: 'delay', ms: 3000, times: 1 })
  const running = await startSidecar(t, doc({ timeout: 0.3 }))
  const res = await request(`${running.url}/api/slow`)
  t.equal(res.statusCode, 503, 'the first fetch timed out: no token')
  t.match(res.headers['content-type'], /^application\/problem\+json(;|$)/)
  const body = await res.body.json() as Record<string, unknown>
  t.equal(body.code, 'TOKEN_UNAVAILABLE')
  t.equal(body.credential, 'kc')
  t.match(body.detail, /token request timed out/)
  t.equal(body.error, undefined, 'no `error`: the identity service never answered')
  t.ok(Number(res.headers['retry-after']) >= 1, 'with Retry-After')
  t.equal(up.requests.length, 0, 'nothing forwarded')
  t.equal(kc.issued.length, 0, 'the slow answer had not been issued when the client got its 503')
})
