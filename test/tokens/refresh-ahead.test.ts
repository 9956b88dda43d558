// Tokens are refreshed in the background at `at` ± jitter of their lifetime, so in steady state no client request waits for the IdP.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { claimsOf, startKeycloak, type KeycloakOptions } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

async function setup (t: Test, kcOpts: KeycloakOptions, refresh: Record<string, number>, random?: () => number) {
  const kc = await startKeycloak(kcOpts)
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const running = await startSidecar(t, {
    refresh,
    credentials: { kc: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: 'test-secret' } },
    upstreams: { api: { target: up.url, credential: 'kc', prefix: '/api' } },
  }, random === undefined ? {} : { random })
  return { kc, up, running }
}

async function get (url: string): Promise<{ status: number, authorization: string }> {
  const res = await request(url)
  const body = await res.body.json() as { authorization: string }
  return { status: res.statusCode, authorization: body.authorization }
}

t.test('the IdP sees a refresh before the first token expires, with no client request', async (t) => {
  const { kc, up, running } = await setup(t, { lifespan: 3 }, { at: 0.5, jitter: 0, minValidity: 0.5 })
  await until(() => kc.issued.length === 1, 3000, 'the first token')
  const first = kc.issued[0]!
  const firstExpMs = claimsOf(first).exp! * 1000
  const firstAnswered = kc.requests[0]!.time + 3000
  await until(() => kc.issued.length === 2, 4000, 'the background refresh')
  t.equal(kc.tokenRequests, 2, 'exactly one refresh so far')
  const refreshAt = kc.requests[1]!.time
  t.ok(refreshAt < firstExpMs - 500, 'the refresh request came before the first token (exp) came within minValidity of expiry')
  t.ok(refreshAt < firstAnswered, 'and before expires_in ran out')
  t.equal(up.requests.length, 0, 'no client request was involved')
  const lifeMs = Math.min(firstExpMs, firstAnswered) - kc.requests[0]!.time
  t.ok(refreshAt - kc.requests[0]!.time >= lifeMs * 0.5 - 100, 'not before `at` (0.5) of the lifetime')

  const after = await get(`${running.url}/api/x`)
  t.equal(after.status, 200)
  t.equal(after.authorization, `Bearer ${kc.issued[1]}`, 'the refreshed token is the one injected next')
  t.not(kc.issued[1], first)
})

t.test('while a refresh is slow, requests are served at once with the old token', async (t) => {
  // 3.5 s: the emulator gives fractional lifespans an exp of ceil(now + 3.5), so the JWT exp never cuts the life short.
  const { kc, up, running } = await setup(t, { lifespan: 3.5 }, { at: 0.5, jitter: 0, minValidity: 0.5 })
  await until(() => kc.issued.length === 1, 3000, 'the first token')
  const old = kc.issued[0]!
  kc.setFault({ kind: 'delay', ms: 800, times: 1 })
  await until(() => kc.tokenRequests === 2, 4000, 'the background refresh to start')

  const during = []
  for (let i = 0; i < 5; i++) during.push(await get(`${running.url}/api/during/${i}`))
  t.equal(kc.issued.length, 1, 'the refresh was still in flight after all five requests were answered')
  t.same(during.map((r) => r.status), [200, 200, 200, 200, 200], 'all served')
  t.same(during.map((r) => r.authorization), Array(5).fill(`Bearer ${old}`), 'with the old token')
  t.same(up.requests.map((r) => r.headers.authorization), Array(5).fill(`Bearer ${old}`), 'the upstream recorded the old token')
  const readyz = await (await request(`${running.admin}/readyz`)).body.json() as { credentials: { kc: { state: string } } }
  t.equal(readyz.credentials.kc.state, 'refreshing', 'the admin view agrees: refreshing')

  await until(() => kc.issued.length === 2, 3000, 'the slow refresh to finish')
  await until(async () => (await get(`${running.url}/api/after`)).authorization === `Bearer ${kc.issued[1]}`, 2000,
    'the new token to be injected')
  t.equal(kc.tokenRequests, 2, 'no extra token request was caused by client traffic')
})

/** refreshInS of the first 'token obtained' line, for a 300.5 s token (fractional: expires_in rules, not a floored exp). */
async function plannedRefresh (t: Test, refresh: Record<string, number>, random: () => number): Promise<number> {
  const { kc, running } = await setup(t, { lifespan: 300.5 }, refresh, random)
  await until(() => running.logs.find('token obtained').length === 1, 3000, 'the first token')
  const line = running.logs.find('token obtained')[0]!
  t.equal(line.expirySource, 'expires_in')
  t.equal(kc.tokenRequests, 1)
  return line.refreshInS as number
}

t.test('jitter: the refresh is planned within at ± jitter of the lifetime', async (t) => {
  const refresh = { at: 0.8, jitter: 0.05, minValidity: 5 }
  t.equal(await plannedRefresh(t, refresh, () => 0), 225, 'random 0: earliest, (0.8 - 0.05) × 300.5 s')
  t.equal(await plannedRefresh(t, refresh, () => 0.5), 240, 'random 0.5: at 0.8 × 300.5 s, as in the SPEC example')
  t.equal(await plannedRefresh(t, refresh, () => 1), 255, 'random 1: latest, (0.8 + 0.05) × 300.5 s')
})

t.test('the refresh is always planned before the token gets within minValidity of expiry', async (t) => {
  // at 0.9 of 300.5 s would be 270 s, but with minValidity 100 the token is only usable for 200.5 s.
  const planned = await plannedRefresh(t, { at: 0.9, jitter: 0, minValidity: 100 }, () => 0.5)
  t.ok(planned < 200.5, `planned at ${planned} s, before the token stops being usable`)
  t.equal(planned, 180, '0.9 of the usable window')
})
