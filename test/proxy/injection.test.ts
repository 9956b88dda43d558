// The upstream gets exactly one Authorization: Bearer <token from the IdP>; client credentials are dropped.
import t from 'tap'
import { request } from 'undici'
import { startOidcKeycloak } from '../peers/oidc-keycloak.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar } from '../helpers/sidecar.js'

t.test('injects the IdP token and replaces every client credential', async (t) => {
  const idp = await startOidcKeycloak({
    realm: 'consent-01-external-system',
    clients: [{ client_id: 'test-ext', client_secret: 's3cret', token_endpoint_auth_method: 'client_secret_post' }],
  })
  t.teardown(() => idp.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const { url } = await startSidecar(t, {
    credentials: {
      registry: {
        type: 'keycloak',
        url: idp.root,
        realm: idp.realm,
        clientId: 'test-ext',
        clientSecret: 's3cret',
        scope: 'api:read',
      }
    },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
  })
  const res = await request(`${url}/registry/start-bp?x=1`, {
    method: 'POST',
    headers: {
      authorization: 'Basic Y2xpZW50OnNlY3JldA==',
      'proxy-authorization': 'Basic eA==',
      'waltid-authorization': 'Bearer client-owned',
      'content-type': 'application/json',
      'x-app': 'legacy',
    },
    body: JSON.stringify({ processDefinitionKey: 'demo' }),
  })
  t.equal(res.statusCode, 200)
  await res.body.text()
  t.equal(up.requests.length, 1)
  const got = up.requests[0]!
  t.equal(got.url, '/start-bp?x=1', 'prefix stripped, query kept')
  t.equal(got.method, 'POST')
  t.equal(got.bodyText, '{"processDefinitionKey":"demo"}', 'body forwarded intact')
  t.equal(got.headers['x-app'], 'legacy', 'other headers kept')
  const auths = got.rawHeaders.filter((_, i) => i % 2 === 0 && got.rawHeaders[i]!.toLowerCase() === 'authorization')
  t.equal(auths.length, 1, 'exactly one Authorization header')
  const header = got.headers.authorization!
  t.match(header, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, 'Bearer <JWT>')
  const token = header.slice('Bearer '.length)
  t.ok(idp.issued.includes(token), 'the token is one the IdP issued')
  const claims = await idp.verifyAccessToken(token)
  t.equal(claims.iss, idp.issuer, 'signature and issuer verify against the IdP JWKS')
  t.notOk(got.headers['proxy-authorization'], 'Proxy-Authorization removed')
  t.notOk(got.headers['waltid-authorization'], 'waltid-authorization removed')
})
