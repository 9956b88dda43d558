// Keycloak `params`: extra form parameters on every token request (login and refresh alike), validated as a map
// of strings, shown by `check`.
import t from 'tap'
import { stringify } from 'yaml'
import { summarize } from '../../src/commands/check.js'
import { ConfigError, parseConfig } from '../../src/configuration.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { keycloakCredential } from '../helpers/proxy-fixture.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const PARAMS = { audience: 'registry-api', resource: 'https://registry.example.org/api', 'x-flag': '' }

t.test('sent with the password login and with every refresh', async (t) => {
  const kc = await startKeycloak({
    lifespan: 2,
    refreshLifespan: 60,
    clients: { 'test-client': { secret: 'test-secret' } },
    users: { alice: { password: 'alice-pass' } },
  })
  t.teardown(() => kc.close())
  await startSidecar(t, {
    refresh: { at: 0.5, jitter: 0, minValidity: 0.3 },
    credentials: {
      user: {
        ...keycloakCredential(kc),
        grant: 'password',
        username: 'alice',
        password: 'alice-pass',
        params: PARAMS,
      },
      service: {
        ...keycloakCredential(kc),
        clientAuth: 'client_secret_basic',
        params: { audience: 'other-api' },
      },
    },
    upstreams: { api: { target: 'http://127.0.0.1:9', credential: 'user', prefix: '/api' } },
  })
  // The service's own refresh may come first: wait for the user's refresh itself.
  await until(() => kc.requests.some((r) => r.method === 'POST' && new URLSearchParams(r.body).get('grant_type') === 'refresh_token'), 8000,
    'a login, a client_credentials request and a refresh')
  const forms = kc.requests.filter((r) => r.method === 'POST').map((r) => new URLSearchParams(r.body))
  const byGrant = (g: string): URLSearchParams[] => forms.filter((f) => f.get('grant_type') === g)
  const login = byGrant('password')[0]!
  const refresh = byGrant('refresh_token')[0]!
  for (const [what, form] of [['password login', login], ['refresh', refresh]] as const) {
    for (const [name, value] of Object.entries(PARAMS)) t.equal(form.get(name), value, `${what}: ${name}`)
  }
  t.equal(login.get('username'), 'alice', 'the grant\'s own parameters are still there')
  t.equal(refresh.get('client_secret'), 'test-secret')
  const service = byGrant('client_credentials')[0]!
  t.equal(service.get('audience'), 'other-api', 'client_credentials, with Basic client auth')
  t.equal(service.get('resource'), null, 'each credential sends its own params')
})

const doc = (params: unknown): string => stringify({
  credentials: { registry: { type: 'keycloak', tokenUrl: 'https://kc.example.org/token', clientId: 'c', clientSecret: 's', params } },
  upstreams: { registry: { target: 'https://registry.example.org', credential: 'registry', prefix: '/registry' } },
})

t.test('validated as a map of strings; the parameters tokenproxy sets are refused', async (t) => {
  const problems = (params: unknown): string[] => {
    try {
      parseConfig(doc(params), {})
    } catch (err) {
      if (err instanceof ConfigError) return err.problems
      throw err
    }
    return []
  }
  t.same(problems(['audience']), ['credentials.registry.params: must be a mapping of names to strings, e.g. { audience: registry-api }'])
  t.same(problems({ max_age: 300, audience: { a: 1 } }), [
    'credentials.registry.params.max_age: must be a string (got 300; quote it: "300")',
    'credentials.registry.params.audience: must be a string (got {"a":1})',
  ])
  t.same(problems({ grant_type: 'password', client_secret: 'x', scope: 'openid' }), [
    'credentials.registry.params.grant_type: is set by tokenproxy itself and cannot be overridden here',
    'credentials.registry.params.client_secret: is set by tokenproxy itself and cannot be overridden here',
    'credentials.registry.params.scope: is set by tokenproxy itself and cannot be overridden here',
  ])
  t.same(problems({ audience: 'registry-api' }), [], 'a map of strings is valid')
})

t.test('check shows them', async (t) => {
  const out = summarize(parseConfig(doc({ audience: 'registry-api', resource: 'urn:x' }), {}), 'f.yaml')
  t.match(out,
    // eslint-disable-next-line @stylistic/max-len -- a regular expression literal does not wrap
    /^ {2}registry: keycloak client_credentials, client c \(client_secret_post, secret inline\), params audience="registry-api" resource="urn:x"$/m)
})
