// Keycloak client authentication on the wire: client_secret_post form body and RFC 6749 §2.3.1 client_secret_basic.
import t from 'tap'
import { request } from 'undici'
import { claimsOf, startKeycloak, type RecordedRequest } from '../peers/keycloak-emulator.js'
import { startOidcKeycloak } from '../peers/oidc-keycloak.js'
import { startUpstream, type Upstream } from '../peers/upstream.js'
import { startSidecar } from '../helpers/sidecar.js'

const POST_ID = 'post-client'
const POST_SECRET = 'p0st+&/%: secret'
const BASIC_ID = 'svc:app+1 &%'
const BASIC_SECRET = 's3cr+t&/%:x y'

/** The token the upstream received on its last request. */
function bearerSeen (up: Upstream): string {
  const header = up.requests.at(-1)?.headers.authorization ?? ''
  const m = /^Bearer (\S+)$/.exec(header)
  if (m === null) throw new Error(`upstream saw no Bearer token (${header})`)
  return m[1]!
}

const formOf = (rec: RecordedRequest): Array<[string, string]> => [...new URLSearchParams(rec.body)]

t.test('against the Keycloak emulator', async (t) => {
  const kc = await startKeycloak({
    realm: 'consent-01-external-system',
    clients: { [POST_ID]: { secret: POST_SECRET }, [BASIC_ID]: { secret: BASIC_SECRET } },
  })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const { url } = await startSidecar(t, {
    credentials: {
      post: {
        type: 'keycloak',
        url: kc.root,
        realm: kc.realm,
        clientId: POST_ID,
        clientSecret: POST_SECRET,
        clientAuth: 'client_secret_post',
      },
      basic: {
        type: 'keycloak',
        url: kc.root,
        realm: kc.realm,
        clientId: BASIC_ID,
        clientSecret: BASIC_SECRET,
        clientAuth: 'client_secret_basic',
        scope: 'profile email',
      },
    },
    upstreams: {
      post: { target: up.url, credential: 'post', prefix: '/post' },
      basic: { target: up.url, credential: 'basic', prefix: '/basic' },
    },
  })
  const tokenPath = new URL(kc.tokenUrl).pathname
  const tokenRequestsBy = (clientId: string): RecordedRequest[] =>
    kc.requests.filter((r) => r.url === tokenPath && new URLSearchParams(r.body).get('client_id') === clientId)

  t.test('client_secret_post: a form-urlencoded body with grant_type, client_id and client_secret', async (t) => {
    const res = await request(`${url}/post/x`)
    t.equal(res.statusCode, 200)
    await res.body.text()
    const token = bearerSeen(up)
    t.ok(kc.issued.includes(token), 'the upstream got a token the emulator issued')
    t.equal(claimsOf(token).azp, POST_ID)
    const recs = tokenRequestsBy(POST_ID)
    t.equal(recs.length, 1, 'one token request')
    const rec = recs[0]!
    t.equal(rec.method, 'POST')
    t.equal(rec.headers['content-type'], 'application/x-www-form-urlencoded')
    t.equal(rec.headers.authorization, undefined, 'no Basic header in post mode')
    t.throws(() => JSON.parse(rec.body), SyntaxError, 'the body is not JSON')
    t.same(formOf(rec), [
      ['grant_type', 'client_credentials'],
      ['client_id', POST_ID],
      ['client_secret', POST_SECRET],
    ], 'exactly these form fields, the secret surviving form encoding, no scope when none is configured')
  })

  t.test('client_secret_basic: id and secret form-encoded before base64; scope sent', async (t) => {
    const res = await request(`${url}/basic/y`)
    t.equal(res.statusCode, 200)
    await res.body.text()
    const token = bearerSeen(up)
    t.ok(kc.issued.includes(token), 'the emulator decoded the Basic credentials per RFC 6749 §2.3.1 and issued a token')
    t.equal(claimsOf(token).azp, BASIC_ID)
    const recs = kc.requests.filter((r) => r.url === tokenPath && r.headers.authorization !== undefined)
    t.equal(recs.length, 1, 'one token request')
    const rec = recs[0]!
    // formEncode('svc:app+1 &%') : formEncode('s3cr+t&/%:x y'), written out by hand.
    t.equal(rec.headers.authorization, `Basic ${Buffer.from('svc%3Aapp%2B1+%26%25:s3cr%2Bt%26%2F%25%3Ax+y').toString('base64')}`)
    t.equal(rec.headers['content-type'], 'application/x-www-form-urlencoded')
    t.same(formOf(rec), [['grant_type', 'client_credentials'], ['scope', 'profile email']],
      'grant_type and scope only: the client credentials travel in the header')
  })
})

t.test('against oidc-provider, with a client registered for client_secret_basic only', async (t) => {
  const secret = '0idc+&/%: s'
  const idp = await startOidcKeycloak({
    realm: 'consent-01-external-system',
    clients: [{ client_id: 'basic-client', client_secret: secret, token_endpoint_auth_method: 'client_secret_basic' }],
  })
  t.teardown(() => idp.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const { url, admin } = await startSidecar(t, {
    credentials: {
      basic: {
        type: 'keycloak',
        url: idp.root,
        realm: idp.realm,
        clientId: 'basic-client',
        clientSecret: secret,
        clientAuth: 'client_secret_basic',
        scope: 'api:read',
      },
    },
    upstreams: { basic: { target: up.url, credential: 'basic', prefix: '/basic' } },
  })

  const res = await request(`${url}/basic/z`)
  t.equal(res.statusCode, 200)
  await res.body.text()
  const token = bearerSeen(up)
  t.ok(idp.issued.includes(token), 'token obtained from oidc-provider and injected')
  const claims = await idp.verifyAccessToken(token)
  t.equal(claims.client_id, 'basic-client')
  t.equal(claims.scope, 'api:read', 'the configured scope was granted')

  const ready = await (await fetch(`${admin}/readyz`)).json() as { credentials: Record<string, { state: string, lastError: unknown }> }
  t.equal(ready.credentials.basic!.state, 'valid')
  t.equal(ready.credentials.basic!.lastError, null)
  t.equal(idp.successes, 1, 'one token request, accepted')
  t.equal(idp.failures, 0)
})
