// Spoofable forwarding headers: URL overrides never reach the upstream, method overrides only where allowed, and
// Forwarded / X-Forwarded-* / X-Real-IP are stripped, set by tokenproxy, or kept, per upstreams.NAME.forwarded.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startStack } from '../helpers/proxy-fixture.js'

/** What an attacker behind the legacy app would send beside the request. */
const SPOOFED = {
  'x-original-url': '/admin/delete-everything',
  'x-rewrite-url': '/admin/delete-everything',
  'x-http-method-override': 'DELETE',
  'x-http-method': 'DELETE',
  'x-method-override': 'DELETE',
  forwarded: 'for=10.0.0.1;host=evil.example;proto=https',
  'x-forwarded-for': '10.0.0.1',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'https',
  'x-forwarded-port': '443',
  'x-forwarded-prefix': '/admin',
  'x-forwarded-server': 'evil',
  'x-real-ip': '10.0.0.1',
}
const URL_OVERRIDES = ['x-original-url', 'x-rewrite-url']
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override']
const FORWARDING = Object.keys(SPOOFED).filter((h) => !URL_OVERRIDES.includes(h) && !METHOD_OVERRIDES.includes(h))

async function forwarded (t: Test, upstream: Record<string, unknown>): Promise<{ headers: Record<string, unknown>, host: string }> {
  const s = await startStack(t, { upstream })
  const res = await request(`${s.url}/registry/who`, { headers: { ...SPOOFED, 'x-end-to-end': 'kept' } })
  await res.body.text()
  t.equal(res.statusCode, 200)
  const got = s.up.requests.at(-1)!
  t.equal(got.headers['x-end-to-end'], 'kept', 'other headers pass')
  t.equal(got.method, 'GET', 'the method is the request\'s')
  return { headers: got.headers as Record<string, unknown>, host: new URL(s.url).host }
}

t.test('default (forwarded: strip): none of them reach the upstream, and tokenproxy adds none', async (t) => {
  const { headers } = await forwarded(t, {})
  for (const h of Object.keys(SPOOFED)) t.equal(headers[h], undefined, `${h} removed`)
})

t.test('forwarded: set: the client\'s are replaced by what tokenproxy saw', async (t) => {
  const { headers, host } = await forwarded(t, { forwarded: 'set' })
  for (const h of [...URL_OVERRIDES, ...METHOD_OVERRIDES, 'forwarded', 'x-real-ip', 'x-forwarded-port', 'x-forwarded-server']) {
    t.equal(headers[h], undefined, `${h} removed`)
  }
  t.equal(headers['x-forwarded-for'], '127.0.0.1', 'X-Forwarded-For: the client\'s address')
  t.equal(headers['x-forwarded-proto'], 'http', 'X-Forwarded-Proto: http, as the client spoke')
  t.equal(headers['x-forwarded-host'], host, 'X-Forwarded-Host: the Host the client asked for')
  t.equal(headers['x-forwarded-prefix'], '/registry', 'X-Forwarded-Prefix: the route\'s prefix')
})

t.test('forwarded: keep passes them verbatim (an app behind its own trusted proxy); URL overrides still go', async (t) => {
  const { headers } = await forwarded(t, { forwarded: 'keep' })
  for (const h of FORWARDING) t.equal(headers[h], SPOOFED[h as keyof typeof SPOOFED], `${h} kept`)
  for (const h of [...URL_OVERRIDES, ...METHOD_OVERRIDES]) t.equal(headers[h], undefined, `${h} removed`)
})

t.test('methodOverride: true forwards the method-override headers, and nothing else changes', async (t) => {
  const { headers } = await forwarded(t, { methodOverride: true })
  for (const h of METHOD_OVERRIDES) t.equal(headers[h], 'DELETE', `${h} kept`)
  for (const h of [...URL_OVERRIDES, ...FORWARDING]) t.equal(headers[h], undefined, `${h} removed`)
})

t.test('forwarded and methodOverride are checked like every other key', async (t) => {
  const { configProblems } = await import('../helpers/config-problems.js')
  t.same(configProblems(JSON.stringify({
    credentials: { kc: { type: 'keycloak', tokenUrl: 'https://kc.example.org/t', clientId: 'c', clientSecret: 's' } },
    upstreams: { a: { target: 'https://a.example.org', credential: 'kc', prefix: '/a', forwarded: 'trust', methodOverride: 'yes' } },
  })), [
    'upstreams.a.forwarded: "trust" is not one of strip, set, keep',
    'upstreams.a.methodOverride: must be true or false (got "yes")',
  ])
})
