// A Keycloak <= 16 root keeps its /auth prefix: url with /auth works, url without it fails as TOKEN_UNAVAILABLE with a clear lastError.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startOidcKeycloak } from '../peers/oidc-keycloak.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar } from '../helpers/sidecar.js'

interface Peer { root: string, realm: string, issued: string[], tokenUrl: string, close (): Promise<void> }

interface Readyz { status: string, credentials: Record<string, { state: string, lastError: Record<string, unknown> | null }> }

async function check (t: Test, peer: Peer, clientId: string, secret: string, notFoundError: string): Promise<void> {
  t.teardown(() => peer.close())
  t.match(peer.root, /\/auth$/, 'the peer serves under /auth')
  const up = await startUpstream()
  t.teardown(() => up.close())
  const bare = peer.root.replace(/\/auth$/, '')
  const cred = { type: 'keycloak', realm: peer.realm, clientId, clientSecret: secret }
  const { url, admin } = await startSidecar(t, {
    refresh: { minValidity: 0.5 },
    credentials: { legacy: { ...cred, url: peer.root }, bare: { ...cred, url: bare } },
    upstreams: {
      legacy: { target: up.url, credential: 'legacy', prefix: '/legacy' },
      bare: { target: up.url, credential: 'bare', prefix: '/bare' },
    },
  })

  const ok = await request(`${url}/legacy/start-bp`)
  t.equal(ok.statusCode, 200, 'url with /auth: request proxied')
  await ok.body.text()
  t.equal(up.requests.length, 1)
  const header = up.requests[0]!.headers.authorization ?? ''
  t.ok(peer.issued.includes(header.replace(/^Bearer /, '')), 'with a token the peer issued')

  const failed = await request(`${url}/bare/start-bp`)
  t.equal(failed.statusCode, 503, 'url without /auth: 503')
  t.match(failed.headers['content-type'], /^application\/problem\+json(;|$)/)
  t.match(failed.headers['retry-after'], /^[1-9]\d*$/, 'Retry-After in whole seconds')
  const problem = await failed.body.json() as Record<string, unknown>
  t.equal(problem.code, 'TOKEN_UNAVAILABLE')
  t.equal(problem.credential, 'bare')
  t.equal(problem.error, notFoundError, 'the identity service\'s error is passed on')
  t.match(problem.detail, `Keycloak answered 404: ${notFoundError}`)
  t.equal(up.requests.length, 1, 'nothing reached the upstream without a token')

  const ready = await request(`${admin}/readyz`)
  t.equal(ready.statusCode, 503)
  const body = await ready.body.json() as Readyz
  t.equal(body.credentials.legacy!.state, 'valid')
  t.equal(body.credentials.bare!.state, 'failing')
  const lastError = body.credentials.bare!.lastError!
  t.match(lastError, { outcome: 'error', status: 404, error: notFoundError, message: `Keycloak answered 404: ${notFoundError}` })
  t.notOk('description' in lastError, 'no error_description was given')
  t.match(lastError.at, /^\d{4}-\d\d-\d\dT/, 'when it happened')
}

t.test('Keycloak emulator with legacyAuthPrefix', async (t) => {
  const kc = await startKeycloak({
    legacyAuthPrefix: true,
    realm: 'consent-01-external-system',
    clients: { 'test-ext': { secret: 's3cret' } },
  })
  await check(t, kc, 'test-ext', 's3cret', 'Unable to find matching target resource method')
  const tokenPaths = kc.requests.filter((r) => r.method === 'POST').map((r) => r.url)
  t.ok(tokenPaths.includes('/auth/realms/consent-01-external-system/protocol/openid-connect/token'), 'url + realm kept the /auth root')
  t.ok(tokenPaths.includes('/realms/consent-01-external-system/protocol/openid-connect/token'),
    'the bare url went to /realms/... and got 404')
})

t.test('oidc-provider with legacyAuthPrefix', async (t) => {
  const idp = await startOidcKeycloak({
    legacyAuthPrefix: true,
    realm: 'consent-01-external-system',
    clients: [{ client_id: 'test-ext', client_secret: 's3cret', token_endpoint_auth_method: 'client_secret_post' }],
  })
  await check(t, idp, 'test-ext', 's3cret', 'Realm does not exist')
  t.equal(idp.successes, 1, 'one token issued, for the /auth url')
})
