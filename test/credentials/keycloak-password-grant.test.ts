// Keycloak password grant: keep the refresh token, refresh with it, log in again when it is refused or runs out.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startKeycloak, type KeycloakEmulator } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { keycloakCredential } from '../helpers/proxy-fixture.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const grants = (kc: KeycloakEmulator): string[] => kc.requests
  .filter((r) => r.method === 'POST')
  .map((r) => new URLSearchParams(r.body).get('grant_type') ?? '?')

async function setup (t: Test, kcOpts: Parameters<typeof startKeycloak>[0]): Promise<{ kc: KeycloakEmulator, url: string }> {
  const kc = await startKeycloak({
    lifespan: 2,
    clients: { 'test-client': { secret: 'test-secret' } },
    users: { alice: { password: 'alice-pass' } },
    ...kcOpts,
  })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const { url } = await startSidecar(t, {
    refresh: { at: 0.5, jitter: 0, minValidity: 0.3 },
    credentials: {
      user: {
        ...keycloakCredential(kc),
        grant: 'password',
        username: 'alice',
        password: 'alice-pass',
      },
    },
    upstreams: { api: { target: up.url, credential: 'user', prefix: '/api' } },
  })
  return { kc, url }
}

t.test('refreshes with the refresh token, then logs in again after invalid_grant', async (t) => {
  const { kc, url } = await setup(t, { refreshLifespan: 60 })
  await until(() => kc.tokenRequests >= 3, 8000, 'two refreshes')
  const [login, first, second] = kc.requests.filter((r) => r.method === 'POST')
  const loginForm = new URLSearchParams(login!.body)
  t.equal(loginForm.get('grant_type'), 'password')
  t.equal(loginForm.get('username'), 'alice')
  t.equal(loginForm.get('password'), 'alice-pass')
  t.equal(new URLSearchParams(first!.body).get('grant_type'), 'refresh_token')
  t.equal(new URLSearchParams(second!.body).get('grant_type'), 'refresh_token')
  t.not(new URLSearchParams(first!.body).get('refresh_token'), null)
  t.equal(new URLSearchParams(first!.body).get('password'), null, 'no password sent on refresh')

  // The session ends ("Token is not active"): the next refresh is refused and a full login follows.
  // Keep revoking: a refresh already in flight would otherwise mint a refresh token that escapes.
  const before = kc.tokenRequests
  await until(() => {
    for (const r of kc.issued) kc.revoke(r)
    return grants(kc).slice(before).includes('password')
  }, 8000, 'a fresh login')
  const after = grants(kc).slice(before)
  const relogin = after.indexOf('password')
  t.ok(relogin >= 1, 'the login came after a refresh attempt')
  t.equal(after[relogin - 1], 'refresh_token', 'refused refresh, then password login in the same fetch')
  const res = await request(`${url}/api/x`)
  t.equal(res.statusCode, 200, 'requests keep flowing')
  await res.body.text()
})

t.test('once refresh_expires_in has run out it logs in again instead of refreshing', async (t) => {
  const { kc } = await setup(t, { refreshLifespan: 1 })
  await until(() => kc.tokenRequests >= 3, 8000, 'three token requests')
  t.same(grants(kc).slice(0, 3), ['password', 'password', 'password'])
})

t.test('a wrong user password is a rejected credential', async (t) => {
  const kc = await startKeycloak({ clients: { 'test-client': { secret: 'test-secret' } }, users: { alice: { password: 'alice-pass' } } })
  t.teardown(() => kc.close())
  const { url, logs } = await startSidecar(t, {
    credentials: {
      user: {
        ...keycloakCredential(kc),
        grant: 'password',
        username: 'alice',
        password: 'not-her-pass',
      }
    },
    upstreams: { api: { target: 'http://127.0.0.1:9', credential: 'user', prefix: '/api' } },
  })
  await until(() => logs.find(/rejected by the identity service/).length === 1, 3000, 'the rejection log line')
  const res = await request(`${url}/api/x`)
  const problem = await res.body.json() as Record<string, unknown>
  t.equal(res.statusCode, 503)
  t.equal(problem.error, 'invalid_grant')
  t.equal(problem.error_description, 'Invalid user credentials')
  t.notMatch(JSON.stringify(problem) + logs.text, /not-her-pass/)
})
