// Prefix matching is case-sensitive, and duplicate detection agrees: /Registry and /registry are two routes.
import t from 'tap'
import { stringify } from 'yaml'
import { parseConfig } from '../../src/configuration.js'
import { keycloakCredential, rawRequest } from '../helpers/proxy-fixture.js'
import { startSidecar } from '../helpers/sidecar.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'

t.test('/registry and /Registry: each to its own upstream; /REGISTRY matches neither', async (t) => {
  const idp = await startKeycloak()
  t.teardown(() => idp.close())
  const [lower, upper] = await Promise.all([startUpstream(), startUpstream()])
  t.teardown(() => Promise.all([lower.close(), upper.close()]))
  const s = await startSidecar(t, {
    credentials: { registry: keycloakCredential(idp) },
    upstreams: {
      lower: { target: lower.url, credential: 'registry', prefix: '/registry' },
      upper: { target: upper.url, credential: 'registry', prefix: '/Registry' },
    },
  })
  t.equal((await rawRequest(s.url, 'GET /registry/a HTTP/1.1')).status, 200)
  t.equal((await rawRequest(s.url, 'GET /Registry/b HTTP/1.1')).status, 200)
  t.equal((await rawRequest(s.url, 'GET /REGISTRY/c HTTP/1.1')).status, 404)
  t.same(lower.requests.map((r) => r.url), ['/a'])
  t.same(upper.requests.map((r) => r.url), ['/b'])
})

t.test('the validator does not call /Registry a duplicate of /registry', async (t) => {
  const doc = (prefixes: string[]): string => stringify({
    credentials: { c: { type: 'keycloak', tokenUrl: 'https://kc.example.org/token', clientId: 'c', clientSecret: 's' } },
    upstreams: Object.fromEntries(prefixes.map((p, i) => [`u${i}`, { target: 'https://up.example.org', credential: 'c', prefix: p }])),
  })
  t.doesNotThrow(() => parseConfig(doc(['/registry', '/Registry']), {}))
  t.throws(() => parseConfig(doc(['/registry', '/registry/']), {}), /upstreams\.u1\.prefix: \/registry is already used by upstreams\.u0/)
})
