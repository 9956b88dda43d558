// The demo's dev identity provider answers like Keycloak: paths, fields, RS256 JWTs, and its error bodies.
import { createHash } from 'node:crypto'
import t from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { request } from 'undici'
import { startDevIdp } from '../../src/demo/dev-idp.js'
import { startEchoUpstream } from '../../src/demo/echo-upstream.js'

const form = 'application/x-www-form-urlencoded'

t.test('token endpoint: success, client auth both ways, Keycloak errors', async (t) => {
  const idp = await startDevIdp({ lifetime: 60 })
  t.teardown(() => idp.close())
  const issuer = `${idp.root}/realms/demo`
  const tokenUrl = `${issuer}/protocol/openid-connect/token`
  const post = async (body: string,
    headers: Record<string, string> = { 'content-type': form }): Promise<[number, Record<string, unknown>]> => {
    const res = await request(tokenUrl, { method: 'POST', headers, body })
    return [res.statusCode, await res.body.json() as Record<string, unknown>]
  }
  const [status, ok] = await post('grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret')
  t.equal(status, 200)
  t.same(Object.keys(ok), ['access_token', 'expires_in', 'refresh_expires_in', 'token_type', 'not-before-policy', 'scope'],
    'Keycloak\'s fields, in order')
  const discovery = await (await request(`${issuer}/.well-known/openid-configuration`)).body.json() as Record<string, string>
  t.equal(discovery.issuer, issuer)
  const { payload } = await jwtVerify(String(ok.access_token), createRemoteJWKSet(new URL(discovery.jwks_uri!)), { issuer })
  t.equal(payload.azp, 'demo-client')
  t.equal(payload.exp! - payload.iat!, 60)

  const basic = `Basic ${Buffer.from('demo-client:demo-secret').toString('base64')}`
  t.equal((await post('grant_type=client_credentials', { 'content-type': form, authorization: basic }))[0], 200, 'client_secret_basic')
  t.same(await post(JSON.stringify({ grant_type: 'client_credentials' }), { 'content-type': 'application/json' }),
    [400, { error: 'invalid_request', error_description: 'Missing form parameter: grant_type' }], 'a JSON body, as Keycloak answers it')
  t.same(await post('grant_type=client_credentials&client_id=other&client_secret=x'),
    [401, { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' }])
  t.same(await post('grant_type=client_credentials&client_id=demo-client&client_secret=wrong'),
    [401, { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' }])
  t.same(await post('grant_type=password&client_id=demo-client&client_secret=demo-secret'),
    [400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' }])
  const get = await request(tokenUrl)
  t.equal(get.statusCode, 405)
  await get.body.text()
  const other = await request(`${idp.root}/realms/nope/protocol/openid-connect/token`, { method: 'POST' })
  t.same([other.statusCode, await other.body.json()], [404, { error: 'Realm does not exist' }])
  const huge = await request(tokenUrl, { method: 'POST', headers: { 'content-type': form }, body: 'x'.repeat(100_000) })
  t.equal(huge.statusCode, 400, 'an oversized body is refused')
  await huge.body.text()
})

t.test('echo upstream shows the Authorization it got by claims and fingerprint, never the token', async (t) => {
  const echo = await startEchoUpstream()
  t.teardown(() => echo.close())
  const ask = async (authorization?: string): Promise<Record<string, unknown>> =>
    await (await request(`${echo.url}/x`,
      { headers: authorization === undefined ? {} : { authorization } })).body.json() as Record<string, unknown>
  t.equal((await ask()).authorization, null)
  t.same((await ask('Basic Zm9v')).authorization, { scheme: 'Basic' })
  const opaque = await ask('Bearer opaque-token-value')
  const expected = createHash('sha256').update('opaque-token-value').digest('hex').slice(0, 8)
  t.same(opaque.authorization, { scheme: 'Bearer', fingerprint: expected }, 'an opaque token: fingerprint only')
  t.notMatch(JSON.stringify(opaque), /opaque-token-value/)
})
