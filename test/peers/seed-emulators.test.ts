// Proves the REGARDS and walt.id wallet emulators answer as /work/shared/PROTOCOLS.md documents.
import t from 'tap'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { startKeycloak } from './keycloak-emulator.js'
import { TOKEN_PATH, startRegards } from './regards-emulator.js'
import { startWallet } from './waltid-emulator.js'

interface Answer { status: number; headers: Headers; text: string; json: Record<string, unknown> }

async function call (url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init)
  const text = await res.text()
  let json: Record<string, unknown> = {}
  try { json = JSON.parse(text) as Record<string, unknown> } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
/** Waits until a JWT's `exp` (seconds) has passed by the second-granular check jose applies. */
const untilExpired = (token: string): Promise<void> => sleep(Math.max(0, (decodeJwt(token).exp ?? 0) * 1000 - Date.now()) + 30)

const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
const JSON_TYPE = { 'Content-Type': 'application/json' }

t.test('REGARDS V2', async (t) => {
  const rg = await startRegards({
    users: {
      'user@regards.fr': { password: 'regards-pass' },
      'locked@regards.fr': { password: 'x', locked: true },
    },
  })
  t.teardown(() => rg.close())
  const url = `${rg.tokenUrl}?scope=project1`
  const login = (body: Record<string, unknown>, headers: Record<string, string> = {}, to = url): Promise<Answer> =>
    call(to,
      { method: 'POST', headers: { ...JSON_TYPE, authorization: basic('client', 'secret'), ...headers }, body: JSON.stringify(body) })
  const good = { username: 'user@regards.fr', password: 'regards-pass', grant_type: 'password', scope: 'project1' }

  t.equal(rg.tokenUrl, `${rg.root}/api/v1/rs-authentication/oauth/token`)
  t.equal(rg.serviceUrl, rg.root)

  t.test('success body, order and token', async (t) => {
    const r = await login(good)
    t.equal(r.status, 200, r.text)
    t.equal(r.headers.get('content-type'), 'application/json')
    t.equal(r.headers.get('cache-control'), 'no-store')
    t.same(Object.keys(r.json), ['token_type', 'tenant', 'scope', 'role', 'sub', 'email', 'access_token', 'expires_in'])
    t.match(r.text,
      // eslint-disable-next-line @stylistic/max-len -- a regular expression literal does not wrap
      /^\{"token_type":"bearer","tenant":"project1","scope":"project1","role":"REGISTERED_USER","sub":"user@regards\.fr","email":"user@regards\.fr","access_token":"eyJ[^"]+","expires_in":7199\}$/)
    const token = String(r.json.access_token)
    t.same(decodeProtectedHeader(token), { alg: 'HS512' })
    const claims = decodeJwt(token)
    t.same(Object.keys(claims), ['tenant', 'role', 'sub', 'email', 'exp'])
    t.match(claims, { tenant: 'project1', role: 'REGISTERED_USER', sub: 'user@regards.fr', email: 'user@regards.fr' })
    t.ok(Math.abs((claims.exp ?? 0) - (Date.now() / 1000 + 7199)) <= 2, 'exp = now + 7199')
    t.same(rg.issued, [token])
    t.ok(await rg.verify(token))
    t.equal(await rg.verify(token + 'x'), null)
    const rec = rg.requests.at(-1)
    t.equal(rec?.method, 'POST')
    t.equal(rec?.url, `${TOKEN_PATH}?scope=project1`)
    t.same(JSON.parse(rec?.body ?? ''), good)
  })

  t.test('client auth and ?scope', async (t) => {
    for (const authorization of [basic('client', 'wrong'), basic('other', 'secret'), 'Bearer x', '']) {
      const r = await login(good, { authorization })
      t.equal(r.status, 401, `auth ${JSON.stringify(authorization)}`)
      t.match(r.json, { status: 401, error: 'Unauthorized', path: TOKEN_PATH, timestamp: String })
    }
    const noScope = await login(good, {}, rg.tokenUrl)
    t.equal(noScope.status, 401, 'scope in the body only is not enough')
    t.match(noScope.json, { status: 401, error: 'Unauthorized', path: TOKEN_PATH })
  })

  t.test('400s', async (t) => {
    const unknown = await login({ ...good, username: 'nobody@regards.fr' })
    t.equal(unknown.status, 400)
    t.same(unknown.json, { detailMessage: 'Access denied for user nobody@regards.fr', additionalInformation: { error: 'ACCOUNT_UNKNOWN' } })
    const badPw = await login({ ...good, password: 'nope' })
    t.equal(badPw.status, 400)
    t.match(badPw.json, { additionalInformation: { error: 'ACCOUNT_UNKNOWN' } })
    const locked = await login({ ...good, username: 'locked@regards.fr', password: 'x' })
    t.equal(locked.status, 400)
    t.match(locked.json, { additionalInformation: { error: 'ACCOUNT_LOCKED' } })
    const grant = await login({ ...good, grant_type: 'client_credentials' })
    t.equal(grant.status, 400)
    t.same(grant.json, { error: 'unsupported_grant_type', error_description: 'Unsupported grant type: client_credentials' })
    const tenant = await login({ ...good, scope: 'other' }, {}, `${rg.tokenUrl}?scope=other`)
    t.equal(tenant.status, 400)
    t.match(tenant.json, { additionalInformation: { error: 'USER_UNKNOWN' } })
    const form = await call(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', authorization: basic('client', 'secret') },
      body: new URLSearchParams(good).toString(),
    })
    t.equal(form.status, 415, 'V2 wants JSON')
    const broken = await call(url, { method: 'POST', headers: { ...JSON_TYPE, authorization: basic('client', 'secret') }, body: '{nope' })
    t.equal(broken.status, 400)
    const get = await call(url, { headers: { authorization: basic('client', 'secret') } })
    t.equal(get.status, 405)
  })

  t.test('password change', async (t) => {
    rg.setPassword('user@regards.fr', 'new-pass')
    t.equal((await login(good)).status, 400)
    t.equal((await login({ ...good, password: 'new-pass' })).status, 200)
    rg.setPassword('user@regards.fr', 'regards-pass')
  })

  t.test('service endpoint', async (t) => {
    const token = String((await login(good)).json.access_token)
    const svc = `${rg.serviceUrl}/api/v1/rs-catalog/search?q=1`
    const ok = await call(svc, { headers: { authorization: `Bearer ${token}` } })
    t.equal(ok.status, 200)
    t.same(ok.json, { tenant: 'project1', sub: 'user@regards.fr', path: '/api/v1/rs-catalog/search' })
    for (const authorization of [`bearer ${token}`, `BEARER ${token}`, 'Bearer eyJunknown.x.y', '']) {
      const r = await call(svc, { headers: authorization ? { authorization } : {} })
      t.equal(r.status, 401, `service with ${authorization.slice(0, 8) || 'no header'}`)
      t.match(r.json, { status: 401, error: 'Unauthorized', path: '/api/v1/rs-catalog/search' })
    }
    t.equal(rg.serviceRequests.length, 5)
    t.equal(rg.serviceRequests[0]?.headers.authorization, `Bearer ${token}`)
    t.equal((await call(`${rg.root}/elsewhere`)).status, 404)
  })

  t.test('expired token', async (t) => {
    rg.setExpiresIn(0.4)
    const r = await login(good)
    rg.setExpiresIn(7199)
    t.equal(r.json.expires_in, 0.4)
    const token = String(r.json.access_token)
    const svc = `${rg.serviceUrl}/api/v1/rs-storage/files`
    t.equal((await call(svc, { headers: { authorization: `Bearer ${token}` } })).status, 200)
    await untilExpired(token)
    t.equal((await call(svc, { headers: { authorization: `Bearer ${token}` } })).status, 401)
  })

  t.test('faults', async (t) => {
    const before = rg.tokenRequests
    rg.setFault({ kind: 'down' })
    await t.rejects(login(good))
    rg.setFault({ kind: 'status', status: 503, body: '<html>down</html>', times: 1 })
    const s = await login(good)
    t.equal(s.status, 503)
    t.equal(s.text, '<html>down</html>')
    t.equal((await login(good)).status, 200, 'times: 1 cleared the fault')
    rg.setFault({ kind: 'garbage' })
    const g = await login(good)
    t.equal(g.status, 200)
    t.same(g.json, {})
    rg.setFault(null)
    t.equal(rg.tokenRequests - before, 4)
  })
})

t.test('REGARDS V1', async (t) => {
  const rg = await startRegards({ version: 'v1', expiresIn: 43199, tenant: 'demo', client: { id: 'c1', secret: 's:1' } })
  t.teardown(() => rg.close())
  const auth = { authorization: basic('c1', 's:1') }
  const params = { username: 'user@regards.fr', password: 'regards-pass', grant_type: 'password' }

  const form = await call(`${rg.tokenUrl}?scope=demo`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...auth }, body: new URLSearchParams(params).toString(),
  })
  t.equal(form.status, 200, form.text)
  t.match(form.json, { token_type: 'bearer', tenant: 'demo', scope: 'demo', expires_in: 43199 })
  const token = String(form.json.access_token)
  t.same(decodeProtectedHeader(token), { alg: 'HS256' })
  t.equal(decodeJwt(token).tenant, 'demo')

  const query = await call(`${rg.tokenUrl}?${new URLSearchParams({ ...params, scope: 'demo' }).toString()}`,
    { method: 'POST', headers: auth })
  t.equal(query.status, 200, 'all parameters in the query')

  const json = await call(`${rg.tokenUrl}?scope=demo`, { method: 'POST', headers: { ...JSON_TYPE, ...auth }, body: JSON.stringify(params) })
  t.equal(json.status, 400, 'V1 ignores a JSON body')
  const noScope = await call(rg.tokenUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...auth },
    body: new URLSearchParams({ ...params, scope: 'demo' }).toString(),
  })
  t.equal(noScope.status, 401, 'scope in the form body is not the query parameter')
  const ok = await call(`${rg.root}/api/v1/rs-catalog/x`, { headers: { authorization: `Bearer ${token}` } })
  t.same(ok.json, { tenant: 'demo', sub: 'user@regards.fr', path: '/api/v1/rs-catalog/x' })
})

t.test('walt.id wallet', async (t) => {
  const kc = await startKeycloak({ users: { alice: { password: 'alice-pass' } } })
  t.teardown(() => kc.close())
  const wallet = await startWallet({
    keycloak: { issuer: kc.issuer, jwksUrl: kc.jwksUrl },
    users: { user: { password: 'wallet-pass' }, alice: { password: 'a' } },
    rateLimit: { max: 5, windowMs: 60_000 },
  })
  t.teardown(() => wallet.close())
  const login = (body: unknown, to = wallet.loginUrl): Promise<Answer> =>
    call(to, { method: 'POST', headers: JSON_TYPE, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const kcToken = async (): Promise<string> => {
    const r = await call(kc.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'test-client',
        client_secret: 'test-secret',
        username: 'alice',
        password: 'alice-pass',
      }).toString(),
    })
    return String(r.json.access_token)
  }
  const accounts = `${wallet.root}/wallet-api/wallet/accounts/wallets`
  t.equal(wallet.loginUrl, `${wallet.root}/wallet-api/auth/login`)

  let userId = ''
  let session = ''
  t.test('password login', async (t) => {
    const r = await login({ type: 'keycloak', username: 'user', password: 'wallet-pass' })
    t.equal(r.status, 200, r.text)
    t.same(Object.keys(r.json), ['id', 'token', 'keycloakUserId'])
    t.match(r.json, { id: /^[0-9a-f-]{36}$/, keycloakUserId: /^[0-9a-f-]{36}$/ })
    t.match(r.headers.get('set-cookie'), /^login=eyJ/)
    session = String(r.json.token)
    userId = String(r.json.id)
    t.same(decodeProtectedHeader(session), { alg: 'HS256', typ: 'JWT' })
    const claims = decodeJwt(session)
    t.equal(claims.sub, userId)
    t.equal((claims.exp ?? 0) - (claims.iat ?? 0), 30 * 24 * 3600)
    const again = await login({ type: 'keycloak', username: 'user', password: 'wallet-pass' },
      `${wallet.root}/wallet-api/auth/keycloak/login`)
    t.equal(again.status, 200)
    t.equal(again.json.id, userId, 'account id is stable')
    t.equal(again.json.keycloakUserId, r.json.keycloakUserId)
    t.not(again.json.token, session, 'each login a new session token')
    t.same(wallet.issued, [session, again.json.token])
    t.match(wallet.logins, [{ username: 'user', kind: 'password', ok: true, status: 200 }, { kind: 'password', ok: true }])
  })

  t.test('token logins against the Keycloak emulator', async (t) => {
    const token = await kcToken()
    const sub = decodeJwt(token).sub
    const r = await login({ type: 'keycloak', token })
    t.equal(r.status, 200, r.text)
    t.equal(r.json.keycloakUserId, sub)
    const viaPassword = await login({ type: 'keycloak', username: 'alice', password: 'a' })
    t.equal(viaPassword.json.id, r.json.id, 'token account = preferred_username')
    t.equal(viaPassword.json.keycloakUserId, sub)
    const both = await login({ type: 'keycloak', username: 'alice', token })
    t.equal(both.status, 200)
    t.equal(both.json.id, r.json.id)
    t.match(wallet.logins.slice(-3), [{ kind: 'token', ok: true }, { kind: 'password' }, { kind: 'username+token', username: 'alice' }])

    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    const bad = await login({ type: 'keycloak', token: forged })
    t.equal(bad.status, 500)
    t.match(bad.json, { exception: true, id: 'RuntimeException', status: 'Internal Server Error', code: '500' })
    t.match(wallet.logins.at(-1), { kind: 'token', ok: false, status: 500 })
  })

  t.test('failed and unreadable logins', async (t) => {
    const r = await login({ type: 'keycloak', username: 'user', password: 'wrong' })
    t.equal(r.status, 500)
    t.same(Object.keys(r.json), ['exception', 'id', 'status', 'code', 'message'])
    t.match(r.json,
      {
        exception: true,
        id: 'RuntimeException',
        status: 'Internal Server Error',
        code: '500',
        message: /^Keycloak returned error code: 401 Unauthorized/,
      })
    const bodies = [
      'not json', '[]', { username: 'user', password: 'wallet-pass' }, { type: 'keycloak' }, { type: 'email', email: 'a', password: 'b' },
    ]
    for (const body of bodies) {
      const u = await login(body)
      t.equal(u.status, 400, `unreadable ${JSON.stringify(body)}`)
    }
    t.equal((await call(wallet.loginUrl)).status, 405)
  })

  t.test('protected routes', async (t) => {
    const none = await call(accounts)
    t.equal(none.status, 401)
    t.same(none.json, { message: 'Login Required' })
    const ok = await call(accounts, { headers: { authorization: `Bearer ${session}` } })
    t.equal(ok.status, 200)
    t.same(ok.json, { account: userId, path: '/wallet-api/wallet/accounts/wallets' })
    t.equal((await call(accounts, { headers: { authorization: `Bearer ${session}x` } })).status, 401)
    t.equal((await call(accounts, { headers: { authorization: session } })).status, 401)
    t.match(wallet.protectedRequests.slice(-4), [
      { authorization: null, status: 401 }, { authorization: `Bearer ${session}`, status: 200, account: userId },
      { status: 401 }, { authorization: session, status: 401 },
    ])

    const other = String((await login({ type: 'keycloak', username: 'user', password: 'wallet-pass' })).json.token)
    wallet.rejectTokens(new Set([session]))
    t.equal((await call(accounts, { headers: { authorization: `Bearer ${session}` } })).status, 401, 'rejected while valid')
    t.equal((await call(accounts, { headers: { authorization: `Bearer ${other}` } })).status, 200)
    wallet.rejectTokens('all')
    t.equal((await call(accounts, { headers: { authorization: `Bearer ${other}` } })).status, 401)
    wallet.rejectTokens(null)
    t.equal((await call(accounts, { headers: { authorization: `Bearer ${session}` } })).status, 200)
  })

  t.test('logout does not revoke', async (t) => {
    const r = await call(wallet.logoutUrl,
      { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ keycloakUserId: 'k', token: session }) })
    t.equal(r.status, 200)
    t.same(wallet.logouts.at(-1), { keycloakUserId: 'k', token: session })
    t.equal((await call(wallet.logoutUrl, { method: 'POST', body: 'junk' })).status, 200)
    t.equal((await call(accounts, { headers: { authorization: `Bearer ${session}` } })).status, 200)
  })

  t.test('plain-text keycloak token', async (t) => {
    const r = await call(wallet.keycloakTokenUrl)
    t.equal(r.status, 200)
    t.match(r.headers.get('content-type'), /^text\/plain/)
    t.match(r.text, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/)
    t.throws(() => JSON.parse(r.text))
  })

  t.test('faults', async (t) => {
    const before = wallet.loginRequests
    wallet.setFault({ kind: 'status', status: 502, body: '<html>bad gateway</html>', times: 1 })
    t.equal((await login({ type: 'keycloak', username: 'fault', password: 'x' })).status, 502)
    wallet.setFault({ kind: 'down' })
    await t.rejects(login({ type: 'keycloak', username: 'fault', password: 'x' }))
    wallet.setFault(null)
    t.equal(wallet.loginRequests - before, 2)
  })

  t.test('rate limit', async (t) => {
    // max 5 per window, counted per username and including failures; 'user' has used 4 so far.
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) statuses.push((await login({ type: 'keycloak', username: 'rl', password: i % 2 ? 'x' : 'y' })).status)
    t.same(statuses, [500, 500, 500, 500, 500, 429, 429])
    const limited = await login({ type: 'keycloak', username: 'rl', password: 'x' })
    t.match(limited.headers.get('retry-after'), /^\d+$/)
    t.equal((await login({ type: 'keycloak', username: 'user', password: 'wallet-pass' })).status, 200, 'other usernames unaffected')
    t.match(wallet.logins.at(-2), { username: 'rl', ok: false, status: 429 })
  })
})

t.test('walt.id wallet: legacy errors, short sessions, rate window', async (t) => {
  const wallet = await startWallet({ legacyErrors: true, tokenLifetimeSeconds: 0.4, rateLimit: { max: 2, windowMs: 300 } })
  t.teardown(() => wallet.close())
  const login = (password: string): Promise<Answer> =>
    call(wallet.loginUrl, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ type: 'keycloak', username: 'user', password }) })

  const bad = await login('wrong')
  t.equal(bad.status, 400)
  t.match(bad.json, { exception: true, code: '400', message: /^Keycloak returned error code: 401 Unauthorized/ })

  const noKc = await call(wallet.loginUrl,
    { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ type: 'keycloak', token: 'eyJx.eyJ9.x' }) })
  t.equal(noKc.status, 400, 'token login without a Keycloak to verify against fails')

  const ok = await login('wallet-pass')
  t.equal(ok.status, 200)
  t.equal((await login('wallet-pass')).status, 429)
  const session = String(ok.json.token)
  const url = `${wallet.root}/wallet-api/wallet/accounts/wallets`
  t.equal((await call(url, { headers: { authorization: `bearer ${session}` } })).status, 200, 'scheme is case-insensitive here')
  await untilExpired(session)
  const expired = await call(url, { headers: { authorization: `Bearer ${session}` } })
  t.equal(expired.status, 401)
  t.same(expired.json, { message: 'Login Required' })
  await sleep(Math.max(0, 300 - (Date.now() - (wallet.logins[0]?.time ?? 0))) + 20)
  t.equal((await login('wallet-pass')).status, 200, 'window over')
})
