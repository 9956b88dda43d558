// /healthz is always 200; /readyz reports each credential's state and is 200 only when every used credential holds a usable token.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

interface CredentialStatus { state: string, expiresAt: string | null, lastError: Record<string, unknown> | null }
interface Readyz { status: number, contentType: string, body: { status: string, credentials: Record<string, CredentialStatus> } }

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

async function readyz (admin: string): Promise<Readyz> {
  const res = await request(`${admin}/readyz`)
  return { status: res.statusCode, contentType: String(res.headers['content-type']), body: await res.body.json() as Readyz['body'] }
}

async function healthz (t: Test, admin: string, when: string): Promise<void> {
  const res = await request(`${admin}/healthz`)
  t.equal(res.statusCode, 200, `/healthz 200 ${when}`)
  t.equal(await res.body.text(), '{"status":"ok"}', `/healthz body ${when}`)
}

async function waitForState (admin: string, state: string, ms = 4000): Promise<Readyz> {
  let last: Readyz | undefined
  await until(async () => (last = await readyz(admin)).body.credentials.kc?.state === state, ms, `state ${state}`)
  return last!
}

t.test('a credential through pending, valid, refreshing, failing and expired', async (t) => {
  // 3.5 s tokens (fractional: the JWT exp never cuts them short); refresh at 1.75 s; usable until 3.0 s.
  const kc = await startKeycloak({ lifespan: 3.5 })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  kc.setFault({ kind: 'delay', ms: 600, times: 1 })
  const { admin } = await startSidecar(t, {
    refresh: { at: 0.5, jitter: 0, minValidity: 0.5 },
    credentials: { kc: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: 'test-secret' } },
    upstreams: { api: { target: up.url, credential: 'kc', prefix: '/api' } },
  })

  await t.test('pending while the first fetch is in flight', async (t) => {
    const r = await readyz(admin)
    t.equal(kc.issued.length, 0, 'the first token is still being fetched')
    t.equal(r.status, 503)
    t.match(r.contentType, /^application\/json/)
    t.same(r.body, { status: 'not_ready', credentials: { kc: { state: 'pending', expiresAt: null, lastError: null } } })
    await healthz(t, admin, 'while pending')
  })

  let firstExpiry = ''
  await t.test('valid with an ISO expiresAt once the token arrived', async (t) => {
    await until(() => kc.issued.length === 1, 3000, 'the first token')
    const r = await waitForState(admin, 'valid', 1000)
    t.equal(r.status, 200)
    firstExpiry = r.body.credentials.kc!.expiresAt!
    t.match(firstExpiry, ISO, 'ISO 8601 with milliseconds, UTC')
    const left = Date.parse(firstExpiry) - Date.now()
    t.ok(left > 2000 && left <= 3500, `expires in the token's lifetime (${left} ms)`)
    t.same(r.body, { status: 'ready', credentials: { kc: { state: 'valid', expiresAt: firstExpiry, lastError: null } } })
  })

  await t.test('refreshing while a refresh is in flight (still ready)', async (t) => {
    kc.setFault({ kind: 'delay', ms: 600, times: 1 })
    await until(() => kc.tokenRequests === 2, 4000, 'the refresh to start')
    const r = await readyz(admin)
    t.equal(kc.issued.length, 1, 'the refresh has not been answered yet')
    t.equal(r.status, 200)
    t.same(r.body, { status: 'ready', credentials: { kc: { state: 'refreshing', expiresAt: firstExpiry, lastError: null } } },
      'still the first token')
  })

  let secondExpiry = ''
  await t.test('failing, with lastError, when a refresh fails but the token is still usable', async (t) => {
    await until(() => kc.issued.length === 2, 3000, 'the refresh to finish')
    secondExpiry = (await waitForState(admin, 'valid', 1000)).body.credentials.kc!.expiresAt!
    t.ok(Date.parse(secondExpiry) > Date.parse(firstExpiry), 'the refreshed token expires later')
    kc.setFault({ kind: 'status', status: 500, body: '{"error":"unknown_error","error_description":"boom"}' })
    const r = await waitForState(admin, 'failing', 4000)
    t.equal(r.status, 200, 'still ready: the token is usable')
    t.equal(r.body.status, 'ready')
    t.equal(r.body.credentials.kc!.expiresAt, secondExpiry)
    const lastError = r.body.credentials.kc!.lastError!
    t.match(lastError, { outcome: 'error', status: 500, error: 'unknown_error', description: 'boom', message: /500/ })
    t.match(lastError.at, ISO, 'lastError.at is ISO 8601')
  })

  await t.test('expired after expiry with the IdP down', async (t) => {
    kc.setFault({ kind: 'down' })
    const r = await waitForState(admin, 'expired', 4000)
    t.equal(r.status, 503)
    t.equal(r.body.status, 'not_ready')
    t.equal(r.body.credentials.kc!.expiresAt, secondExpiry, 'expiresAt of the token that ran out')
    t.not(r.body.credentials.kc!.lastError, null, 'lastError says why')
    t.same(Object.keys(r.body.credentials.kc!).sort(), ['expiresAt', 'lastError', 'state'])
    await healthz(t, admin, 'while expired')
  })
})

t.test('only credentials used by an upstream count for readiness', async (t) => {
  const kc = await startKeycloak()
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const credentials = {
    kc: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: 'test-secret' },
    spare: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: 'wrong-secret' },
  }

  await t.test('an unused, failing credential does not make /readyz 503', async (t) => {
    const { admin } = await startSidecar(t, { credentials, upstreams: { api: { target: up.url, credential: 'kc', prefix: '/api' } } })
    await until(async () => (await readyz(admin)).body.credentials.spare?.lastError !== null, 3000, 'spare to fail')
    const r = await waitForState(admin, 'valid', 3000)
    t.equal(r.status, 200)
    t.equal(r.body.status, 'ready')
    t.match(r.body.credentials.spare,
      { state: 'failing', expiresAt: null, lastError: { outcome: 'rejected', error: 'unauthorized_client' } }, 'still reported')
  })

  await t.test('the same credential, once an upstream uses it, does', async (t) => {
    const { admin } = await startSidecar(t, {
      credentials,
      upstreams: {
        api: { target: up.url, credential: 'kc', prefix: '/api' },
        other: { target: up.url, credential: 'spare', prefix: '/other' },
      },
    })
    await until(async () => (await readyz(admin)).body.credentials.spare?.lastError !== null, 3000, 'spare to fail')
    const r = await waitForState(admin, 'valid', 3000)
    t.equal(r.status, 503)
    t.equal(r.body.status, 'not_ready')
    t.equal(r.body.credentials.spare!.state, 'failing')
  })
})
