// REGARDS end to end: Basic client auth, ?scope=tenant, JSON (V2) or form (V1) body, lowercase bearer injected as Bearer.
import t from 'tap'
import { request } from 'undici'
import { startRegards } from '../peers/regards-emulator.js'
import { startSidecar } from '../helpers/sidecar.js'

const credential = (root: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'regards', url: root, tenant: 'project1', username: 'user@regards.fr', password: 'regards-pass', ...extra,
})

for (const version of ['v2', 'v1'] as const) {
  t.test(`${version}: token obtained and a REGARDS service accepts the injected header`, async (t) => {
    const regards = await startRegards({ version })
    t.teardown(() => regards.close())
    const { url } = await startSidecar(t, {
      credentials: { regards: credential(regards.root, version === 'v1' ? { format: 'form' } : {}) },
      upstreams: { regards: { target: regards.serviceUrl, credential: 'regards', prefix: '/regards' } },
    })
    const res = await request(`${url}/regards/api/v1/rs-catalog/search?q=x`)
    const body = await res.body.json() as Record<string, unknown>
    t.equal(res.statusCode, 200, 'the case-sensitive "Bearer " check of REGARDS services passes')
    t.equal(body.tenant, 'project1')
    t.equal(regards.tokenRequests, 1)
    const login = regards.requests.find((r) => r.url.startsWith('/api/v1/rs-authentication'))!
    t.equal(login.url, '/api/v1/rs-authentication/oauth/token?scope=project1', 'tenant sent as ?scope=')
    t.equal(login.headers.authorization, `Basic ${Buffer.from('client:secret').toString('base64')}`, 'default client/secret as Basic')
    if (version === 'v2') {
      t.match(login.headers['content-type'], /^application\/json/)
      t.same(JSON.parse(login.body), { username: 'user@regards.fr', password: 'regards-pass', grant_type: 'password', scope: 'project1' })
    } else {
      t.match(login.headers['content-type'], /^application\/x-www-form-urlencoded/)
      t.equal(new URLSearchParams(login.body).get('grant_type'), 'password')
    }
    const seen = regards.serviceRequests[0]!
    t.match(seen.headers.authorization, /^Bearer eyJ/, 'injected as "Bearer", not the answer\'s "bearer"')
    t.ok(regards.issued.includes(String(seen.headers.authorization).slice(7)))
  })
}

t.test('expires_in from the answer sets the lifetime (43199 in the docs)', async (t) => {
  const regards = await startRegards({ expiresIn: 43199 })
  t.teardown(() => regards.close())
  const { admin } = await startSidecar(t, {
    credentials: { regards: credential(regards.root) },
    upstreams: { regards: { target: regards.serviceUrl, credential: 'regards', prefix: '/regards' } },
  })
  let status: { credentials: { regards: { state: string, expiresAt: string } } } | undefined
  for (let i = 0; i < 100 && status?.credentials.regards.state !== 'valid'; i++) {
    status = await (await request(`${admin}/readyz`)).body.json() as typeof status
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const left = (Date.parse(status!.credentials.regards.expiresAt) - Date.now()) / 1000
  t.ok(left > 43190 && left <= 43199, `expires in about 43199 s (got ${left})`)
})

t.test('a wrong password gives 503 with REGARDS\' error code and no secret', async (t) => {
  const regards = await startRegards()
  t.teardown(() => regards.close())
  const { url, admin, logs } = await startSidecar(t, {
    credentials: { regards: credential(regards.root, { password: 'wrong-pass-123' }) },
    upstreams: { regards: { target: regards.serviceUrl, credential: 'regards', prefix: '/regards' } },
  })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const res = await request(`${url}/regards/api/v1/rs-catalog/search`)
  const text = await res.body.text()
  t.equal(res.statusCode, 503)
  const problem = JSON.parse(text) as Record<string, unknown>
  t.equal(problem.code, 'TOKEN_UNAVAILABLE')
  t.equal(problem.credential, 'regards')
  t.equal(problem.error, 'ACCOUNT_UNKNOWN')
  t.match(problem.error_description, /Access denied/)
  const ready = await (await request(`${admin}/readyz`)).body.json() as { credentials: { regards: { lastError: Record<string, unknown> } } }
  t.equal(ready.credentials.regards.lastError.outcome, 'rejected')
  t.equal(ready.credentials.regards.lastError.status, 400)
  t.equal(regards.tokenRequests, 1, 'rejected: retried on the slow end, not hammered')
  t.notMatch(text + logs.text, /wrong-pass-123/, 'the password appears nowhere')
  t.equal(logs.find(/rejected by the identity service/).length, 1)
})

t.test('a bad client secret (Basic) is answered 401 and treated as rejected', async (t) => {
  const regards = await startRegards()
  t.teardown(() => regards.close())
  const { admin } = await startSidecar(t, {
    credentials: { regards: credential(regards.root, { client: { id: 'client', secret: 'nope' } }) },
    upstreams: { regards: { target: regards.serviceUrl, credential: 'regards', prefix: '/regards' } },
  })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const ready = await (await request(`${admin}/readyz`)).body.json() as {
    credentials: { regards: { state: string, lastError: Record<string, unknown> } }
  }
  t.equal(ready.credentials.regards.state, 'failing')
  t.equal(ready.credentials.regards.lastError.status, 401)
  t.equal(ready.credentials.regards.lastError.outcome, 'rejected')
})
