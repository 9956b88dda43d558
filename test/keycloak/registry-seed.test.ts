// The registry seed against a real Keycloak: its realm import as it is, config/compose.yaml as docker-compose runs it.
import t from 'tap'
import { decodeJwt } from 'jose'
import { request } from 'undici'
import { parseConfig } from '../../src/configuration.js'
import type { KeycloakCredential } from '../../src/credentials/keycloak.js'
import { bearerSeen, realKeycloak } from '../peers/keycloak-server.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'
import { text, yaml } from '../deploy/files.js'

const kc = await realKeycloak(t)
if (kc) {
  const REALM = JSON.parse(text('config/keycloak/consent-01-external-system-realm.json')) as { realm: string }
  const COMPOSE = yaml('docker-compose.yml') as { services: Record<string, { environment: Record<string, string> }> }
  const env = { ...COMPOSE.services.tokenproxy!.environment }

  t.test('config/compose.yaml gets tokens for registry and registry-user from the imported realm', async (t) => {
    const echo = await startUpstream()
    t.teardown(() => echo.close())
    // As docker-compose.yml runs it, with the compose hosts mapped to loopback through its own env overrides.
    const { listen: _l, admin: _a, ...doc } = yaml('config/compose.yaml')
    const overrides = { ...env, KEYCLOAK_URL: kc.root, ECHO_URL: echo.url }
    const config = parseConfig(text('config/compose.yaml'), overrides)
    const sidecar = await startSidecar(t, doc, { env: overrides })
    await until(async () => (await request(`${sidecar.admin}/readyz`)).statusCode === 200, 30_000, 'both credentials to hold a token')

    for (const u of Object.values(config.upstreams)) {
      const cred = config.credentials[u.credential] as KeycloakCredential
      // The README's second compose curl sends its own Basic header: it is replaced by the credential's token.
      const res = await request(`${sidecar.url}${u.prefix}/start-bp`, { headers: { authorization: 'Basic Zm9vOmJhcg==' } })
      t.equal(res.statusCode, 200, `${u.prefix}: proxied`)
      await res.body.dump()
      const got = echo.requests.at(-1)!
      t.equal(got.url, '/start-bp')
      const claims = decodeJwt(bearerSeen(got.headers.authorization))
      // What the README promises for the compose stack (there with http://keycloak:8080 as the root).
      t.equal(claims.iss, `${kc.root}/realms/${REALM.realm}`, `${u.name}: iss is the realm on the server root`)
      t.equal(claims.azp, 'test-ext', `${u.name}: azp is the client`)
      t.equal(cred.clientId, 'test-ext')
      const roles = (claims.realm_access as { roles?: string[] } | undefined)?.roles ?? []
      t.ok(roles.includes('external-system'), `${u.name}: realm_access.roles holds external-system (${roles.join(', ')})`)
      t.equal(claims.preferred_username, cred.grant === 'password' ? 'alice' : 'service-account-test-ext')
      t.equal(Number(claims.exp) - Number(claims.iat), 300, 'the seed\'s 300-second tokens')
    }
    const readyz = await (await request(`${sidecar.admin}/readyz`)).body.json() as { credentials: Record<string, { state: string }> }
    t.same(Object.fromEntries(Object.entries(readyz.credentials).map(([k, v]) => [k, v.state])),
      { registry: 'valid', 'registry-user': 'valid' })
  })
}
