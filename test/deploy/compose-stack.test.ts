// The compose stack fits together: realm import <-> config/compose.yaml <-> docker-compose.yml <-> image; a Keycloak seeded from the
// realm import serves that config.
import t from 'tap'
import { request } from 'undici'
import { parseConfig } from '../../src/configuration.js'
import type { KeycloakCredential } from '../../src/credentials/keycloak.js'
import { claimsOf, startKeycloak, type EmulatorClient, type EmulatorUser } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'
import { execForm, only, runtimeStage, text, yaml } from './files.js'

interface RealmClient {
  clientId: string
  secret?: string
  enabled?: boolean
  publicClient?: boolean
  serviceAccountsEnabled?: boolean
  directAccessGrantsEnabled?: boolean
}
interface RealmUser {
  username: string
  enabled?: boolean
  serviceAccountClientId?: string
  realmRoles?: string[]
  credentials?: Array<{ type: string, value: string, temporary?: boolean }>
  requiredActions?: string[]
}
interface Realm {
  realm: string
  enabled: boolean
  accessTokenLifespan?: number
  roles?: { realm?: Array<{ name: string }> }
  clients: RealmClient[]
  users: RealmUser[]
}

const REALM = JSON.parse(text('config/keycloak/consent-01-external-system-realm.json')) as Realm
const COMPOSE = yaml('docker-compose.yml')
const SERVICES = COMPOSE.services as Record<string, Record<string, any>>
const PROXY = SERVICES.tokenproxy!
/** The environment tokenproxy's container gets: what compose passes, and nothing from the host. */
const PROXY_ENV = PROXY.environment as Record<string, string>
const CONFIG_TEXT = text('config/compose.yaml')
const CONFIG = parseConfig(CONFIG_TEXT, PROXY_ENV)
const KEYCLOAKS = Object.values(CONFIG.credentials).filter((c): c is KeycloakCredential => c.type === 'keycloak')

function user (name: string): RealmUser | undefined {
  return REALM.users.find((u) => u.username === name)
}

t.test('the realm import defines every realm, client, secret and user config/compose.yaml uses', async (t) => {
  t.ok(KEYCLOAKS.length >= 2, 'the compose config has keycloak credentials')
  t.equal(REALM.accessTokenLifespan, 300, 'the seed\'s 300-second tokens')
  t.ok(REALM.enabled)
  const roles = (REALM.roles?.realm ?? []).map((r) => r.name)
  for (const c of KEYCLOAKS) {
    t.match(c.tokenUrl, `/realms/${REALM.realm}/protocol/openid-connect/token`, `${c.name}: realm ${REALM.realm}`)
    const client = REALM.clients.find((k) => k.clientId === c.clientId)
    t.ok(client, `${c.name}: client ${c.clientId} is defined`)
    t.not(client?.enabled, false)
    t.equal(client?.publicClient, false, `${c.name}: a confidential client`)
    t.equal(client?.secret, c.clientSecret?.reveal(), `${c.name}: its secret is the one compose passes`)
    if (c.grant === 'client_credentials') {
      t.equal(client?.serviceAccountsEnabled, true, `${c.name}: service accounts enabled`)
      const account = REALM.users.find((u) => u.serviceAccountClientId === c.clientId)
      t.ok(account, `${c.name}: the service-account user is in the import`)
      t.ok((account?.realmRoles ?? []).some((r) => roles.includes(r)), `${c.name}: holds a realm role the import defines`)
    } else {
      t.equal(client?.directAccessGrantsEnabled, true, `${c.name}: direct access grants (password grant) enabled`)
      const u = user(c.username!)
      t.ok(u, `${c.name}: user ${c.username} is defined`)
      t.not(u?.enabled, false)
      t.same(u?.requiredActions ?? [], [], 'no required action blocks the password grant')
      const password = u?.credentials?.find((p) => p.type === 'password')
      t.equal(password?.value, c.password?.reveal(), `${c.name}: the password matches`)
      t.not(password?.temporary, true, 'and is not temporary')
    }
  }
})

t.test('a Keycloak seeded from the realm import issues the tokens config/compose.yaml asks for', async (t) => {
  const clients: Record<string, EmulatorClient> = Object.fromEntries(REALM.clients.map((c) =>
    [c.clientId, { secret: c.secret ?? '', serviceAccounts: c.serviceAccountsEnabled === true, enabled: c.enabled !== false }]))
  const users: Record<string, EmulatorUser> = Object.fromEntries(REALM.users.filter((u) => u.credentials !== undefined).map((u) =>
    [u.username, { password: u.credentials!.find((p) => p.type === 'password')!.value, enabled: u.enabled !== false }]))
  const kc = await startKeycloak({ realm: REALM.realm, lifespan: REALM.accessTokenLifespan ?? 300, clients, users })
  t.teardown(() => kc.close())
  const echo = await startUpstream()
  t.teardown(() => echo.close())
  // config/compose.yaml as it is, with the hosts mapped from the compose network to loopback.
  const { listen: _l, admin: _a, ...doc } = yaml('config/compose.yaml')
  const sidecar = await startSidecar(t, doc, { env: { ...PROXY_ENV, KEYCLOAK_URL: kc.root, ECHO_URL: echo.url } })
  await until(async () => (await request(`${sidecar.admin}/readyz`)).statusCode === 200, 8000, 'every credential to hold a token')
  const byPrefix = Object.values(CONFIG.upstreams)
  t.ok(byPrefix.length >= 2)
  for (const u of byPrefix) {
    const res = await request(`${sidecar.url}${u.prefix}/start-bp`)
    t.equal(res.statusCode, 200, `${u.prefix}: proxied`)
    const body = await res.body.json() as { url: string, authorization: string }
    t.equal(body.url, '/start-bp')
    const claims = claimsOf(body.authorization.replace(/^Bearer /, ''))
    const cred = CONFIG.credentials[u.credential] as KeycloakCredential
    t.equal(claims.azp, cred.clientId, `${u.prefix}: a token for ${cred.clientId}`)
    t.equal(claims.preferred_username, cred.grant === 'password' ? cred.username : `service-account-${cred.clientId}`)
    t.equal(Number(claims.exp) - Number(claims.iat), 300)
  }
})

t.test('docker-compose.yml wires the image, the config, the realm and the ports together', async (t) => {
  const cmd = execForm(only(runtimeStage(), 'CMD').args)
  const configPath = cmd[cmd.indexOf('--config') + 1]
  t.ok(PROXY.build, 'tokenproxy is built from the Dockerfile')
  t.notOk(PROXY.command, 'and runs the image\'s CMD')
  t.ok((PROXY.volumes as string[]).includes(`./config/compose.yaml:${configPath}:ro`),
    `config/compose.yaml is mounted read-only at ${configPath}`)

  const kc = SERVICES.keycloak!
  t.match(kc.image, /^quay\.io\/keycloak\/keycloak:26\.\d+$/)
  t.same(kc.command, ['start-dev', '--import-realm'])
  const realmFile = 'consent-01-external-system-realm.json'
  t.ok((kc.volumes as string[]).includes(`./config/keycloak/${realmFile}:/opt/keycloak/data/import/${realmFile}:ro`),
    'the realm is imported')
  // A real Keycloak refuses to start on an import file not named <realm>-realm.json.
  const imports = (kc.volumes as string[]).map((v) => v.split(':')[1]!).filter((p) => p.startsWith('/opt/keycloak/data/import/'))
  t.same(imports, [`/opt/keycloak/data/import/${REALM.realm}-realm.json`], 'the import file is named after its realm')
  t.equal(kc.environment.KC_HEALTH_ENABLED, 'true', 'health endpoints on')
  const kcCheck = (kc.healthcheck.test as string[]).join(' ')
  t.match(kcCheck, /\/dev\/tcp\/(127\.0\.0\.1|localhost)\/9000/, 'the management port')
  t.match(kcCheck, /\/health\/ready/)
  t.notMatch(kcCheck, /\bcurl\b|\bwget\b/, 'the Keycloak image has neither curl nor wget')
  t.same(PROXY.depends_on.keycloak, { condition: 'service_healthy' })

  // Hosts in config/compose.yaml are compose services, on the ports those services listen on.
  for (const c of KEYCLOAKS) {
    const url = new URL(c.tokenUrl)
    t.ok(SERVICES[url.hostname], `${c.name}: ${url.hostname} is a service`)
    t.equal(url.port, '8080', 'Keycloak\'s HTTP port in the container')
    t.ok(c.insecureHttp, 'plain http inside the compose network is allowed explicitly')
  }
  for (const u of Object.values(CONFIG.upstreams)) {
    const url = new URL(u.target)
    const service = SERVICES[url.hostname]
    t.ok(service, `${u.name}: ${url.hostname} is a service`)
    t.equal(url.port, String(service?.environment?.HTTP_PORT), 'on its HTTP_PORT')
    t.equal(service?.environment?.JWT_HEADER, 'Authorization', 'the echo decodes the injected token')
    t.ok(PROXY.depends_on[url.hostname], 'tokenproxy starts after it')
  }

  // Published ports: host loopback only, onto the listeners config/compose.yaml opens on 0.0.0.0.
  t.equal(CONFIG.listen.host, '0.0.0.0')
  t.equal(CONFIG.admin.host, '0.0.0.0')
  const published = (PROXY.ports as string[]).map((p) => p.split(':'))
  for (const [host] of Object.values(SERVICES).flatMap((s) => ((s.ports ?? []) as string[]).map((p) => p.split(':')))) {
    t.equal(host, '127.0.0.1', 'published on the host\'s loopback only')
  }
  t.same(published.map((p) => Number(p[2])).sort(), [CONFIG.listen.port, CONFIG.admin.port].sort(),
    'the proxy and admin ports are published')
})
