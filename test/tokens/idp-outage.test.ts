// With the IdP down the still-valid token keeps working, retries back off, expiry gives 503, and the sidecar recovers by itself.
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

interface CredentialState { state: string, expiresAt: string | null, lastError: Record<string, unknown> | null }
interface Readyz { status: number, body: { status: string, credentials: Record<string, CredentialState> } }

async function readyz (admin: string): Promise<Readyz> {
  const res = await request(`${admin}/readyz`)
  return { status: res.statusCode, body: await res.body.json() as Readyz['body'] }
}

t.test('IdP outage: keep the valid token, back off, 503 after expiry, recover without restart', async (t) => {
  // 3.5 s tokens (fractional, so the JWT exp never cuts the life short); refresh at 1.75 s; usable until 3.0 s.
  const kc = await startKeycloak({ lifespan: 3.5 })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const { url, admin, logs } = await startSidecar(t, {
    refresh: { at: 0.5, jitter: 0, minValidity: 0.5 },
    credentials: { kc: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: 'test-secret' } },
    upstreams: { api: { target: up.url, credential: 'kc', prefix: '/api' } },
  })
  await until(async () => (await readyz(admin)).status === 200, 3000, 'the first token')
  const first = kc.issued[0]!
  t.equal(kc.tokenRequests, 1)

  kc.setFault({ kind: 'down' })
  await until(() => kc.tokenRequests >= 3, 4000, 'the refresh to fail and be retried')

  await t.test('the still-valid token keeps being used', async (t) => {
    const res = await request(`${url}/api/while-down`)
    t.equal(res.statusCode, 200)
    await res.body.text()
    t.equal(up.requests.at(-1)!.headers.authorization, `Bearer ${first}`, 'the upstream got the first token')
    const r = await readyz(admin)
    t.equal(r.status, 200, 'still ready: the token is usable')
    // A retry may be on the wire at this instant (then the state is 'refreshing'): look again until it is not.
    await t.resolves(until(async () => (await readyz(admin)).body.credentials.kc!.state === 'failing', 1000, "state 'failing'"),
      "state is 'failing' between retries")
  })

  const outage = await (async () => {
    // Wait until the token is past minValidity, then collect the client's view.
    await until(async () => (await readyz(admin)).status === 503, 4000, 'the token to become unusable')
    const res = await request(`${url}/api/after-expiry`)
    return { status: res.statusCode, headers: res.headers, body: await res.body.json() as Record<string, unknown> }
  })()

  await t.test('retries back off exponentially and stay few', async (t) => {
    const failed = logs.find(/^token request for credential "\w+" failed/)
    t.ok(failed.length >= 3, `${failed.length} failed attempts logged`)
    t.same(failed.slice(0, 4).map((l) => l.retryInS), [0.1, 0.2, 0.4, 0.8].slice(0, Math.min(4, failed.length)),
      'delays double from 100 ms (FAST_BACKOFF)')
    t.ok(failed.every((l) => (l.retryInS as number) <= 1), 'and never exceed the 1 s maximum')
    t.same(failed.map((l) => l.failures), failed.map((_, i) => i + 1), 'one log line per attempt, counting failures')
    const attempts = kc.requests.slice(1).map((r) => r.time)
    for (let i = 1; i < attempts.length; i++) {
      const planned = (failed[i - 1]!.retryInS as number) * 1000
      t.ok(attempts[i]! - attempts[i - 1]! >= planned - 20, `attempt ${i + 1} came ≥ ${planned} ms after the previous one`)
    }
    // From the first failure to now at most ~1.5 s have passed: 0.1 + 0.2 + 0.4 + 0.8 fits at most 5 attempts.
    const span = Date.now() - attempts[0]!
    const bound = 1 +
      [100, 200, 400, 800, 1000, 1000,
        1000].reduce((acc, d) => { acc.total += d; if (acc.total - 20 <= span) acc.n++; return acc }, { total: 0, n: 0 }).n
    t.ok(kc.tokenRequests - 1 <= bound, `${kc.tokenRequests - 1} attempts in ${span} ms, at most ${bound} with this backoff`)
  })

  await t.test('no usable token: 503 TOKEN_UNAVAILABLE as problem+json', async (t) => {
    t.equal(outage.status, 503)
    t.match(outage.headers['content-type'], /^application\/problem\+json(;|$)/)
    const retryAfter = Number(outage.headers['retry-after'])
    t.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${outage.headers['retry-after']}`)
    t.equal(outage.body.code, 'TOKEN_UNAVAILABLE')
    t.equal(outage.body.status, 503)
    t.equal(outage.body.credential, 'kc')
    t.notMatch(JSON.stringify(outage.body), first, 'the body does not carry the token')
    t.equal(up.requests.filter((r) => r.url === '/after-expiry').length, 0, 'nothing forwarded without a usable token')
    const r = await readyz(admin)
    t.equal(r.status, 503)
    t.equal(r.body.status, 'not_ready')
    t.equal(r.body.credentials.kc!.state, 'expired')
    t.not(r.body.credentials.kc!.lastError, null, 'lastError says why')
  })

  await t.test('the IdP comes back: the sidecar recovers without a restart', async (t) => {
    const before = kc.tokenRequests
    kc.setFault(null)
    await until(() => kc.issued.length === 2, 3000, 'a new token after the outage')
    t.ok(kc.tokenRequests > before, 'a scheduled retry reached the IdP')
    const res = await request(`${url}/api/recovered`)
    t.equal(res.statusCode, 200)
    await res.body.text()
    t.equal(up.requests.at(-1)!.headers.authorization, `Bearer ${kc.issued[1]}`, 'the new token is injected')
    const r = await readyz(admin)
    t.equal(r.status, 200)
    t.equal(r.body.credentials.kc!.state, 'valid')
    t.equal(r.body.credentials.kc!.lastError, null, 'lastError cleared')
  })
})
