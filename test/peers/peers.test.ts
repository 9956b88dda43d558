// Proves the loopback peers (Keycloak emulator, oidc-provider on Keycloak paths, upstream) behave as documented.
import t from 'tap'
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto'
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, exportJWK, importPKCS8, jwtVerify } from 'jose'
import { startKeycloak } from './keycloak-emulator.js'
import { startOidcKeycloak } from './oidc-keycloak.js'
import { bigBodySha256, startUpstream } from './upstream.js'

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' }
const formEncode = (s: string): string => new URLSearchParams({ v: s }).toString().slice(2)
const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`

/** Assertion message that shows the body only when the status is not the expected one. */
const why = (r: { status: number; text: string }, expected: number): string =>
  r.status === expected ? `status ${expected}` : r.text

async function post (url: string, form: Record<string, string>,
  headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { ...FORM, ...headers }, body: new URLSearchParams(form).toString() })
  const text = await res.text()
  let json: Record<string, unknown> = {}
  try { json = JSON.parse(text) as Record<string, unknown> } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json }
}

t.test('keycloak emulator', async (t) => {
  const SECRET = 's3cr+t&/%:x y'
  const kc = await startKeycloak({
    clients: {
      app: { secret: SECRET },
      'no-sa': { secret: 'x', serviceAccounts: false },
      off: { secret: 'x', enabled: false },
    },
    users: { alice: { password: 'pw' }, bob: { password: 'pw', enabled: false } },
  })
  t.teardown(() => kc.close())
  t.equal(kc.tokenUrl, `${kc.root}/realms/test-realm/protocol/openid-connect/token`)
  t.match(kc.root, /^http:\/\/127\.0\.0\.1:\d+$/)

  t.test('client_credentials via client_secret_post', async (t) => {
    const r = await post(kc.tokenUrl, { grant_type: 'client_credentials', client_id: 'app', client_secret: SECRET })
    t.equal(r.status, 200)
    t.equal(r.headers.get('content-type'), 'application/json')
    t.equal(r.headers.get('cache-control'), 'no-store')
    t.same(Object.keys(r.json), ['access_token', 'expires_in', 'refresh_expires_in', 'token_type', 'not-before-policy', 'scope'])
    t.match(r.text,
      // eslint-disable-next-line @stylistic/max-len -- a regular expression literal does not wrap
      /^\{"access_token":"eyJ[^"]+","expires_in":300,"refresh_expires_in":0,"token_type":"Bearer","not-before-policy":0,"scope":"profile email"\}$/)
    const token = String(r.json.access_token)
    const jwks = createRemoteJWKSet(new URL(kc.jwksUrl))
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: kc.issuer, audience: 'account' })
    t.equal(protectedHeader.alg, 'RS256')
    t.equal(protectedHeader.typ, 'JWT')
    t.equal(protectedHeader.kid, kc.publicJwk.kid)
    t.equal(payload.exp, (payload.iat ?? 0) + 300)
    t.match(payload, {
      azp: 'app',
      typ: 'Bearer',
      client_id: 'app',
      preferred_username: 'service-account-app',
      scope: 'profile email',
      realm_access: { roles: ['default-roles-test-realm', 'offline_access'] },
    })
    t.match(payload.jti, /^[0-9a-f-]{36}$/)
    t.ok(kc.issued.includes(token))
    t.same(await kc.verify(token) !== null, true)
    kc.revoke(token)
    t.equal(await kc.verify(token), null)
  })

  t.test('client_secret_basic with a form-urlencoded secret', async (t) => {
    const r = await post(kc.tokenUrl, { grant_type: 'client_credentials' }, { Authorization: basic('app', SECRET) })
    t.equal(r.status, 200, why(r, 200))
    t.equal(r.json.token_type, 'Bearer')
    const raw = await post(kc.tokenUrl, { grant_type: 'client_credentials' },
      { Authorization: `Basic ${Buffer.from(`app:${SECRET}`).toString('base64')}` })
    // Keycloak 26.4, read off the real server: a Basic value it cannot decode is a 400, not a challenge.
    t.equal(raw.status, 400, 'un-encoded secret with a bad %-escape')
    t.same(raw.json, { error: 'unauthorized_client', error_description: 'Unexpected error when authenticating client' })
    kc.setClientSecret('plus', 'a+b')
    const plus = await post(kc.tokenUrl, { grant_type: 'client_credentials' },
      { Authorization: `Basic ${Buffer.from('plus:a+b').toString('base64')}` })
    t.equal(plus.status, 401, "un-encoded '+' decodes to a space: wrong secret")
    t.equal(plus.json.error, 'unauthorized_client')
    t.equal((await post(kc.tokenUrl, { grant_type: 'client_credentials' }, { Authorization: basic('plus', 'a+b') })).status, 200)
    const formWins = await post(kc.tokenUrl, { grant_type: 'client_credentials', client_secret: SECRET },
      { Authorization: basic('app', 'wrong') })
    t.equal(formWins.status, 200, 'form value wins over Basic')
  })

  t.test('discovery', async (t) => {
    const res = await fetch(`${kc.issuer}/.well-known/openid-configuration`)
    const doc = await res.json() as Record<string, unknown>
    t.match(doc, { issuer: kc.issuer, token_endpoint: kc.tokenUrl, jwks_uri: kc.jwksUrl })
    t.ok((doc.grant_types_supported as string[]).includes('client_credentials'))
  })

  t.test('errors', async (t) => {
    const cases: Array<[string, Promise<Awaited<ReturnType<typeof post>>>, number, Record<string, string>]> = [
      ['wrong secret', post(kc.tokenUrl, { grant_type: 'client_credentials', client_id: 'app', client_secret: 'nope' }), 401,
        { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' }],
      ['unknown client', post(kc.tokenUrl, { grant_type: 'client_credentials', client_id: 'ghost', client_secret: 'x' }), 401,
        { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' }],
      ['disabled client', post(kc.tokenUrl, { grant_type: 'client_credentials', client_id: 'off', client_secret: 'x' }), 401,
        { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' }],
      ['no service account', post(kc.tokenUrl, { grant_type: 'client_credentials', client_id: 'no-sa', client_secret: 'x' }), 401,
        { error: 'unauthorized_client', error_description: 'Client not enabled to retrieve service account' }],
      ['unknown grant', post(kc.tokenUrl, { grant_type: 'magic', client_id: 'app', client_secret: SECRET }), 400,
        { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' }],
      ['wrong password', post(kc.tokenUrl,
        { grant_type: 'password', client_id: 'app', client_secret: SECRET, username: 'alice', password: 'x' }), 401,
      { error: 'invalid_grant', error_description: 'Invalid user credentials' }],
      ['unknown user', post(kc.tokenUrl,
        { grant_type: 'password', client_id: 'app', client_secret: SECRET, username: 'eve', password: 'x' }), 401,
      { error: 'invalid_grant', error_description: 'Invalid user credentials' }],
      ['disabled user', post(kc.tokenUrl,
        { grant_type: 'password', client_id: 'app', client_secret: SECRET, username: 'bob', password: 'pw' }), 400,
      { error: 'invalid_grant' }],
      ['bad refresh', post(kc.tokenUrl,
        { grant_type: 'refresh_token', client_id: 'app', client_secret: SECRET, refresh_token: 'eyJx' }), 400,
      { error: 'invalid_grant', error_description: 'Invalid refresh token' }],
    ]
    for (const [name, p, status, body] of cases) {
      const r = await p
      t.equal(r.status, status, name)
      t.match(r.json, body, name)
      t.equal(r.headers.get('cache-control'), 'no-store', name)
    }
    const json = await fetch(kc.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'app', client_secret: SECRET }),
    })
    t.equal(json.status, 400)
    t.same(await json.json(), { error: 'invalid_request', error_description: 'Missing form parameter: grant_type' })
    const realm = await post(kc.tokenUrl.replace('/test-realm/', '/other/'), { grant_type: 'client_credentials' })
    t.equal(realm.status, 404)
    t.same(realm.json, { error: 'Realm does not exist' })
  })

  t.test('password and refresh grants', async (t) => {
    const r = await post(kc.tokenUrl,
      { grant_type: 'password', client_id: 'app', client_secret: SECRET, username: 'alice', password: 'pw' })
    t.equal(r.status, 200, why(r, 200))
    t.same(Object.keys(r.json),
      ['access_token', 'expires_in', 'refresh_expires_in', 'refresh_token', 'token_type', 'not-before-policy', 'session_state', 'scope'])
    t.equal(r.json.refresh_expires_in, 1800)
    const claims = await kc.verify(String(r.json.access_token))
    t.match(claims, { preferred_username: 'alice', azp: 'app' })
    t.notOk(claims && ('clientId' in claims || 'client_id' in claims), 'a user token names no client id claim')
    const again = await post(kc.tokenUrl,
      { grant_type: 'refresh_token', client_id: 'app', client_secret: SECRET, refresh_token: String(r.json.refresh_token) })
    t.equal(again.status, 200, why(again, 200))
    t.equal(again.json.session_state, r.json.session_state)
    t.not(again.json.access_token, r.json.access_token)
    kc.revoke(String(again.json.refresh_token))
    const dead = await post(kc.tokenUrl,
      { grant_type: 'refresh_token', client_id: 'app', client_secret: SECRET, refresh_token: String(again.json.refresh_token) })
    t.equal(dead.status, 400)
    t.equal(dead.json.error_description, 'Token is not active')
  })

  t.test('faults, lifespan, secret rotation, recording', async (t) => {
    const ok = { grant_type: 'client_credentials', client_id: 'app', client_secret: SECRET }
    const before = kc.tokenRequests
    kc.setFault({ kind: 'down' })
    await t.rejects(post(kc.tokenUrl, ok))
    kc.setFault({ kind: 'status', status: 502, body: '<html>Bad Gateway</html>' })
    const s = await post(kc.tokenUrl, ok)
    t.equal(s.status, 502)
    t.match(s.headers.get('content-type'), /text\/html/)
    kc.setFault({ kind: 'garbage' })
    const g = await post(kc.tokenUrl, ok)
    t.equal(g.status, 200)
    t.throws(() => JSON.parse(g.text))
    kc.setFault({ kind: 'no-token' })
    const n = await post(kc.tokenUrl, ok)
    t.equal(n.status, 200)
    t.notOk('access_token' in n.json)
    kc.setFault({ kind: 'delay', ms: 150, times: 1 })
    const start = Date.now()
    t.equal((await post(kc.tokenUrl, ok)).status, 200)
    t.ok(Date.now() - start >= 140, 'delayed')
    t.equal((await post(kc.tokenUrl, ok)).status, 200, 'times: 1 clears the fault')
    kc.setFault(null)
    t.equal(kc.tokenRequests - before, 6)
    kc.setLifespan(2.5)
    const short = await post(kc.tokenUrl, ok)
    t.equal(short.json.expires_in, 2.5)
    const sc = await kc.verify(String(short.json.access_token))
    t.ok(sc?.exp !== undefined && sc.exp * 1000 >= Date.now() + 2000, 'exp not before expires_in')
    kc.setLifespan(300)
    kc.setClientSecret('app', 'rotated')
    t.equal((await post(kc.tokenUrl, ok)).status, 401)
    kc.setClientSecret('app', SECRET)
    const last = kc.requests.at(-1)
    t.equal(last?.method, 'POST')
    t.match(last?.body, /grant_type=client_credentials/)
  })
})

t.test('keycloak emulator with the legacy /auth prefix', async (t) => {
  const kc = await startKeycloak({ legacyAuthPrefix: true, realm: 'consent-01', tokenType: 'bearer', lifespan: 60 })
  t.teardown(() => kc.close())
  t.match(kc.root, /^http:\/\/127\.0\.0\.1:\d+\/auth$/)
  t.equal(kc.issuer, `${kc.root}/realms/consent-01`)
  const r = await post(kc.tokenUrl, { grant_type: 'client_credentials' }, { Authorization: basic('test-client', 'test-secret') })
  t.equal(r.status, 200, why(r, 200))
  t.equal(r.json.token_type, 'bearer')
  t.equal(r.json.expires_in, 60)
  const { payload } = await jwtVerify(String(r.json.access_token), createRemoteJWKSet(new URL(kc.jwksUrl)), { issuer: kc.issuer })
  t.match(payload.iss, /\/auth\/realms\/consent-01$/)
  const noPrefix = await post(kc.tokenUrl.replace('/auth/', '/'), { grant_type: 'client_credentials' })
  t.equal(noPrefix.status, 404)
})

t.test('oidc-provider on Keycloak paths', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pubJwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  const op = await startOidcKeycloak({
    realm: 'ops',
    legacyAuthPrefix: true,
    accessTokenTtl: 120,
    clients: [
      { client_id: 'poster', client_secret: 'p+s/t%', token_endpoint_auth_method: 'client_secret_post' },
      { client_id: 'basic', client_secret: 'b a:s&c' },
      { client_id: 'signed', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pubJwk] } },
    ],
  })
  t.teardown(() => op.close())
  t.equal(op.tokenUrl, `${op.root}/realms/ops/protocol/openid-connect/token`)
  t.match(op.root, /\/auth$/)

  const disco = await (await fetch(op.discoveryUrl)).json() as Record<string, unknown>
  t.match(disco, { issuer: op.issuer, token_endpoint: op.tokenUrl, jwks_uri: op.jwksUrl })

  const jwks = createRemoteJWKSet(new URL(op.jwksUrl))
  const check = async (token: unknown, clientId: string): Promise<void> => {
    t.type(token, 'string')
    const { payload } = await jwtVerify(String(token), jwks, { issuer: op.issuer, audience: 'account' })
    t.match(payload, { client_id: clientId, scope: 'api:read' })
    t.equal((payload.exp ?? 0) - (payload.iat ?? 0), 120)
    t.equal(decodeProtectedHeader(String(token)).alg, 'RS256')
    await op.verifyAccessToken(String(token))
  }

  const p = await post(op.tokenUrl, { grant_type: 'client_credentials', client_id: 'poster', client_secret: 'p+s/t%', scope: 'api:read' })
  t.equal(p.status, 200, why(p, 200))
  t.match(p.json, { token_type: 'Bearer', expires_in: 120 })
  await check(p.json.access_token, 'poster')

  const b = await post(op.tokenUrl, { grant_type: 'client_credentials', scope: 'api:read' }, { Authorization: basic('basic', 'b a:s&c') })
  t.equal(b.status, 200, why(b, 200))
  await check(b.json.access_token, 'basic')

  const key = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'RS256')
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer('signed').setSubject('signed').setAudience(op.tokenUrl).setJti(randomUUID())
    .setIssuedAt().setExpirationTime('60s').sign(key)
  const s = await post(op.tokenUrl, {
    grant_type: 'client_credentials',
    scope: 'api:read',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  })
  t.equal(s.status, 200, why(s, 200))
  await check(s.json.access_token, 'signed')

  const bad = await post(op.tokenUrl, { grant_type: 'client_credentials', client_id: 'poster', client_secret: 'nope' })
  t.equal(bad.status, 401)
  t.equal(bad.json.error, 'invalid_client')

  op.setFault({ kind: 'status', status: 503, body: '<html>down</html>', times: 1 })
  t.equal((await post(op.tokenUrl, { grant_type: 'client_credentials' })).status, 503)
  op.setFault({ kind: 'down' })
  await t.rejects(post(op.tokenUrl, { grant_type: 'client_credentials' }))
  op.setFault(null)

  t.equal(op.tokenRequests, 6)
  t.equal(op.successes, 3)
  t.equal(op.failures, 1)
  t.equal(op.issued.length, 3)
  t.equal((await post(op.tokenUrl.replace('/ops/', '/nope/'), {})).status, 404)
})

t.test('upstream', async (t) => {
  const up = await startUpstream()
  t.teardown(() => up.close())

  const echo = await fetch(`${up.url}/a/b?c=1`, { method: 'PUT', headers: { Authorization: 'Bearer tok1' }, body: 'hello' })
  t.same(await echo.json(), {
    method: 'PUT',
    url: '/a/b?c=1',
    authorization: 'Bearer tok1',
    bodyBytes: 5,
    bodySha256: createHash('sha256').update('hello').digest('hex'),
  })
  const rec = up.requests.at(-1)
  t.equal(rec?.bodyText, 'hello')
  t.equal(rec?.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'authorization').length, 1)

  const big = Buffer.alloc(200 * 1024, 7)
  await (await fetch(up.url, { method: 'POST', body: big })).arrayBuffer()
  t.equal(up.requests.at(-1)?.bodyBytes, big.length)
  t.equal(up.requests.at(-1)?.bodyText.length, 64 * 1024)
  t.equal(up.requests.at(-1)?.bodySha256, createHash('sha256').update(big).digest('hex'))

  up.setMode({ kind: 'reject', tokens: new Set(['old']) })
  const rej = await fetch(up.url, { headers: { Authorization: 'Bearer old' } })
  t.equal(rej.status, 401)
  t.equal(rej.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
  t.same(await rej.json(), { error: 'invalid_token' })
  t.equal((await fetch(up.url, { headers: { Authorization: 'Bearer new' } })).status, 200)

  up.setMode({ kind: 'reject', tokens: 'all', times: 2 })
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await fetch(up.url, { headers: { Authorization: 'Bearer x' } })).status)
  t.same(statuses, [401, 401, 200])

  up.setMode({ kind: 'delay-headers', ms: 100 })
  const start = Date.now()
  t.equal((await fetch(up.url)).status, 200)
  t.ok(Date.now() - start >= 90)

  up.setMode({ kind: 'reset' })
  await t.rejects(fetch(up.url))

  up.setMode({ kind: 'reset-mid-body' })
  const mid = await fetch(up.url)
  t.equal(mid.status, 200)
  await t.rejects(mid.text())

  up.setMode({ kind: 'big', bytes: 300_000 })
  const got = Buffer.from(await (await fetch(up.url)).arrayBuffer())
  t.equal(got.length, 300_000)
  t.equal(createHash('sha256').update(got).digest('hex'), bigBodySha256(300_000))

  up.setMode({ kind: 'status', status: 503, body: 'maintenance' })
  const st = await fetch(up.url)
  t.equal(st.status, 503)
  t.equal(await st.text(), 'maintenance')

  up.setMode({ kind: 'echo' })
  t.equal((await fetch(up.url)).status, 200)
})

t.test('upstream with a custom handler', async (t) => {
  const up = await startUpstream({ handler: (_req, res, rec) => { res.writeHead(201).end(rec.bodyText.toUpperCase()) } })
  t.teardown(() => up.close())
  const r = await fetch(up.url, { method: 'POST', body: 'abc' })
  t.equal(r.status, 201)
  t.equal(await r.text(), 'ABC')
})
