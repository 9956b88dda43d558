// A dedicated upstream port forwards paths unchanged, a target base path is prepended, and prefix and port routes coexist.
import t from 'tap'
import { request } from 'undici'
import { bearerOf, rawRequest, rawValues, startStack } from '../helpers/proxy-fixture.js'

interface Echo { method: string, url: string, authorization: string | null }

async function get (url: string): Promise<{ status: number, echo: Echo }> {
  const res = await request(url)
  return { status: res.statusCode, echo: await res.body.json() as Echo }
}

t.test('a dedicated port forwards paths unchanged', async (t) => {
  const s = await startStack(t, { upstream: { prefix: undefined, port: 0 } })
  const base = s.addresses['upstreams.registry']
  t.match(base, /^http:\/\/127\.0\.0\.1:\d+$/, 'the dedicated listener is bound on loopback')
  t.equal(s.addresses.listen, undefined, 'no shared listener when no upstream has a prefix')
  for (const path of ['/start-bp', '/start-bp?x=1&y=%20', '/', '/registry/x', '/a/b/c.json']) {
    const { status, echo } = await get(`${base}${path}`)
    t.equal(status, 200, `${path}: 200`)
    t.equal(echo.url, path, `${path}: forwarded unchanged`)
  }
  const token = s.sidecar.tokens.usable('registry')!.token
  for (const r of s.up.requests) {
    t.equal(bearerOf(r.headers), token, `${r.url}: token injected`)
    t.equal(rawValues(r.rawHeaders, 'authorization').length, 1)
  }
  t.equal(s.up.requests.length, 5)

  const bad = await rawRequest(base!, 'GET /%2e%2e/x HTTP/1.1')
  t.equal(bad.status, 400, 'the route guard applies on a dedicated port too')
  t.equal((JSON.parse(bad.body) as { code: string }).code, 'BAD_REQUEST')
  t.equal(s.up.requests.length, 5, 'upstream not contacted for the refused path')
})

t.test('a target with a base path: /registry/x -> /base/x', async (t) => {
  const base = await startStack(t, { upstream: (upUrl) => ({ target: `${upUrl}/base`, port: 0 }) })
  const cases: Array<[string, string]> = [
    [`${base.url}/registry/x`, '/base/x'],
    [`${base.url}/registry/a/b?q=1`, '/base/a/b?q=1'],
    [`${base.addresses['upstreams.registry']}/x`, '/base/x'],
    [`${base.addresses['upstreams.registry']}/a/b?q=1`, '/base/a/b?q=1'],
  ]
  for (const [url, want] of cases) {
    const { status, echo } = await get(url)
    t.equal(status, 200, `${url}: 200`)
    t.equal(echo.url, want, `${url}: upstream got ${want}`)
  }
  t.same(base.up.requests.map((r) => r.url), cases.map(([, want]) => want))
})

t.test('prefix route and dedicated port coexist for the same upstream', async (t) => {
  const s = await startStack(t, { upstream: { port: 0 } })
  const dedicated = s.addresses['upstreams.registry']!
  t.ok(s.url !== '' && dedicated !== undefined, 'both listeners are bound')
  t.not(new URL(dedicated).port, new URL(s.url).port, 'on different ports')
  const viaPrefix = await get(`${s.url}/registry/start-bp`)
  const viaPort = await get(`${dedicated}/start-bp`)
  t.equal(viaPrefix.status, 200)
  t.equal(viaPort.status, 200)
  t.equal(viaPrefix.echo.url, '/start-bp', 'prefix stripped on the shared listener')
  t.equal(viaPort.echo.url, '/start-bp', 'path unchanged on the dedicated port')
  t.equal(viaPrefix.echo.authorization, viaPort.echo.authorization, 'both use the same credential token')
  t.match(viaPort.echo.authorization, /^Bearer /)
  t.equal(s.idp.tokenRequests, 1, 'one token serves both routes')

  const onDedicated = await get(`${dedicated}/registry/start-bp`)
  t.equal(onDedicated.echo.url, '/registry/start-bp', 'the dedicated port does not strip the prefix')
  const noRoute = await request(`${s.url}/start-bp`)
  t.equal(noRoute.statusCode, 404, 'the shared listener still needs the prefix')
  t.equal((await noRoute.body.json() as { code: string }).code, 'NO_ROUTE')
  t.equal(s.up.requests.length, 3)
})
