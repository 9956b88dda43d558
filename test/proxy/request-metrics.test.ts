// tokenproxy_requests_total and tokenproxy_request_duration_seconds count each proxied request once, by upstream, method
// and the status the client got.
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'
import { keycloakCredential, metricValue, rawRequest, scrape, type Sample } from '../helpers/proxy-fixture.js'

const REQUESTS = 'tokenproxy_requests_total'
const DURATION = 'tokenproxy_request_duration_seconds'

t.test('requests are counted by upstream, method and status; duration by upstream', async (t) => {
  const idp = await startKeycloak()
  t.teardown(() => idp.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const { url, admin, sidecar } = await startSidecar(t, {
    credentials: {
      registry: keycloakCredential(idp),
      broken: { ...keycloakCredential(idp), clientSecret: 'wrong-secret' },
    },
    upstreams: {
      registry: { target: up.url, credential: 'registry', prefix: '/registry' },
      other: { target: up.url, credential: 'broken', prefix: '/other' },
    },
  })
  await until(() => sidecar.tokens.usable('registry') !== undefined, 5000, 'the registry token')
  await until(() => sidecar.tokens.status().broken?.state === 'failing', 5000, 'the broken credential to fail')

  const send = async (method: string, path: string, body?: string): Promise<number> => {
    const res = await request(`${url}${path}`,
      { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }) })
    await res.body.dump()
    return res.statusCode
  }
  t.equal(await send('GET', '/registry/a'), 200)
  t.equal(await send('GET', '/registry/b'), 200)
  t.equal(await send('POST', '/registry/c', '{}'), 200)
  t.equal(await send('HEAD', '/registry/d'), 200)
  up.setMode({ kind: 'status', status: 404, body: '{"error":"not here"}' })
  t.equal(await send('GET', '/registry/missing'), 404, 'the upstream 404 reaches the client')
  t.equal(await send('DELETE', '/registry/missing'), 404)
  // a 401 replayed with a fresh token is still one client request, counted with the final status
  up.setMode({ kind: 'reject', tokens: new Set([sidecar.tokens.usable('registry')!.token]) })
  t.equal(await send('GET', '/registry/replayed'), 200)
  t.equal(up.requests.length, 8, 'the replay reached the upstream')
  up.setMode({ kind: 'echo' })
  t.equal(await send('GET', '/other/x'), 503, 'no token for the broken credential')
  t.equal(await send('GET', '/nowhere'), 404, 'NO_ROUTE')

  const m: Sample[] = await scrape(admin)
  const count = (labels: Record<string, string>): number => metricValue(m, REQUESTS, labels)
  t.equal(count({ upstream: 'registry', method: 'GET', code: '200' }), 3, 'GET 200 (including the replayed one, once)')
  t.equal(count({ upstream: 'registry', method: 'POST', code: '200' }), 1)
  t.equal(count({ upstream: 'registry', method: 'HEAD', code: '200' }), 1)
  t.equal(count({ upstream: 'registry', method: 'GET', code: '404' }), 1, "the upstream's 404")
  t.equal(count({ upstream: 'registry', method: 'DELETE', code: '404' }), 1)
  t.equal(count({ upstream: 'registry', method: 'GET', code: '401' }), 0, 'the refused attempt is not counted')
  t.equal(count({ upstream: 'other', method: 'GET', code: '503' }), 1, 'TOKEN_UNAVAILABLE counted under its upstream')
  const registryTotal = m.filter((s) => s.name === REQUESTS && s.labels.upstream === 'registry').reduce((n, s) => n + s.value, 0)
  t.equal(registryTotal, 7, 'nothing else counted for registry')
  t.notOk(m.some((s) => s.name === REQUESTS && s.labels.upstream === 'none' && s.labels.code !== '404'), 'the unrouted request is a 404')

  t.equal(metricValue(m, `${DURATION}_count`, { upstream: 'registry' }), 7, 'one duration sample per registry request')
  t.equal(metricValue(m, `${DURATION}_count`, { upstream: 'other' }), 1, 'one duration sample for the 503')
  t.equal(metricValue(m, `${DURATION}_bucket`, { upstream: 'registry', le: '+Inf' }), 7, '+Inf bucket matches the count')
  t.ok(metricValue(m, `${DURATION}_sum`, { upstream: 'registry' }) > 0, 'durations were observed')
  t.notOk(m.some((s) => s.name.startsWith(DURATION) && s.labels.upstream === 'none'), 'unrouted requests have no duration sample')
  for (const s of m.filter((x) => x.name === REQUESTS)) {
    t.ok(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'].includes(s.labels.method!),
      `method label ${s.labels.method} is bounded`)
  }
})

t.test('invented methods are labelled OTHER', async (t) => {
  const idp = await startKeycloak()
  t.teardown(() => idp.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const { url, admin, sidecar } = await startSidecar(t, {
    credentials: { registry: keycloakCredential(idp) },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
  })
  await until(() => sidecar.tokens.usable('registry') !== undefined, 5000, 'the registry token')
  const statuses: number[] = []
  for (const method of ['PURGE', 'PROPFIND', 'MKCOL']) {
    const res = await rawRequest(url, `${method} /registry/x HTTP/1.1`)
    statuses.push(res.status)
  }
  const m = await scrape(admin)
  const samples = m.filter((s) => s.name === REQUESTS)
  for (const method of ['PURGE', 'PROPFIND', 'MKCOL']) {
    t.notOk(samples.some((s) => s.labels.method === method), `no ${method} label value`)
  }
  const other = samples.filter((s) => s.labels.method === 'OTHER')
  t.equal(other.reduce((n, s) => n + s.value, 0), 3, 'all three counted as OTHER')
  t.same(other.map((s) => s.labels.code).sort(), [...new Set(statuses.map(String))].sort(), 'with the status each got')
})
