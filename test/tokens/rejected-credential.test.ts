// A credential the IdP rejects is reported (503 body, /readyz, error log, metric) and retried at the slow end of the backoff.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startKeycloak, type Fault, type KeycloakEmulator } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until, type Running } from '../helpers/sidecar.js'

const SLOW = { initialMs: 100, maxMs: 1500, jitter: 0 }
const WRONG = 'not-the-secret-7f3a'
const INVALID = 'Invalid client or Invalid client credentials'

interface Setup { kc: KeycloakEmulator, running: Running, upstreamRequests: () => number }

async function setup (t: Test, opts: { secret?: string, clientId?: string, fault?: Fault } = {}): Promise<Setup> {
  const kc = await startKeycloak()
  t.teardown(() => kc.close())
  if (opts.fault !== undefined) kc.setFault(opts.fault)
  const up = await startUpstream()
  t.teardown(() => up.close())
  const running = await startSidecar(t, {
    credentials: {
      registry: {
        type: 'keycloak',
        url: kc.root,
        realm: kc.realm,
        clientId: opts.clientId ?? 'test-client',
        clientSecret: opts.secret ?? WRONG,
      }
    },
    upstreams: { api: { target: up.url, credential: 'registry', prefix: '/api' } },
  }, { backoff: SLOW })
  return { kc, running, upstreamRequests: () => up.requests.length }
}

async function counter (admin: string, outcome: string): Promise<number> {
  const text = await (await request(`${admin}/metrics`)).body.text()
  const m = new RegExp(`^tokenproxy_token_requests_total\\{credential="registry",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)
  return m === null ? 0 : Number(m[1])
}

const failureLines = (r: Running) =>
  r.logs.lines.filter((l) => l.credential === 'registry' && l.outcome !== undefined && typeof l.failures === 'number')

t.test('wrong client secret: 401 unauthorized_client is reported and retried slowly', async (t) => {
  const { kc, running, upstreamRequests } = await setup(t)
  const { url, admin, logs } = running
  await until(() => failureLines(running).length === 1, 3000, 'the first rejected attempt')
  const firstAt = kc.requests[0]!.time

  await t.test('the client gets 503 TOKEN_UNAVAILABLE naming the IdP error', async (t) => {
    const res = await request(`${url}/api/x`)
    t.equal(res.statusCode, 503)
    t.match(res.headers['content-type'], /^application\/problem\+json(;|$)/)
    t.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After')
    const body = await res.body.json() as Record<string, unknown>
    t.match(body,
      { code: 'TOKEN_UNAVAILABLE', status: 503, credential: 'registry', error: 'unauthorized_client', error_description: INVALID })
    t.notMatch(JSON.stringify(body), WRONG, 'never the secret')
    t.equal(upstreamRequests(), 0, 'nothing forwarded')
  })

  await t.test('/readyz shows the rejection as lastError', async (t) => {
    const res = await request(`${admin}/readyz`)
    t.equal(res.statusCode, 503)
    const body = await res.body.json() as { credentials: { registry: { state: string, lastError: Record<string, unknown> } } }
    t.equal(body.credentials.registry.state, 'failing')
    t.match(body.credentials.registry.lastError, { outcome: 'rejected', status: 401, error: 'unauthorized_client', description: INVALID })
    t.notMatch(JSON.stringify(body), WRONG, 'never the secret')
  })

  await t.test('logged at error level, naming the credential', async (t) => {
    const [line] = failureLines(running)
    t.equal(line!.level, 50, 'error level')
    t.equal(line!.credential, 'registry')
    t.equal(line!.outcome, 'rejected')
    t.equal(line!.error, 'unauthorized_client')
    t.match(String(line!.msg), /rejected/)
    t.match(String(line!.msg), /unauthorized_client/)
    t.equal(line!.retryInS, 1.5, 'next attempt at the slow end (maxMs)')
    t.notMatch(logs.text, WRONG, 'never the secret')
  })

  await t.test('no hammering: one attempt in the first second, the next after maxMs', async (t) => {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstAt + 1000 - Date.now())))
    t.equal(kc.tokenRequests, 1, 'exactly one token request in the first second (fast backoff would have made 3-4)')
    await until(() => failureLines(running).length === 2, 3000, 'the second rejected attempt')
    t.equal(kc.tokenRequests, 2)
    t.ok(kc.requests[1]!.time - firstAt >= 1500 - 20, 'the second attempt came maxMs (1.5 s) after the first')
    const lines = failureLines(running)
    t.same(lines.map((l) => l.level), [50, 50], 'one error line per attempt')
    t.same(lines.map((l) => l.retryInS), [1.5, 1.5], 'still the slow end after the second rejection')
    t.equal(await counter(admin, 'rejected'), 2, 'tokenproxy_token_requests_total{outcome="rejected"} counts both')
    t.equal(await counter(admin, 'error'), 0, 'not counted as errors')
  })

  await t.test('fixing the secret at the IdP side recovers at the next attempt', async (t) => {
    kc.setClientSecret('test-client', WRONG)
    await until(() => kc.issued.length === 1, 3000, 'a token')
    const res = await request(`${url}/api/after-fix`)
    t.equal(res.statusCode, 200)
    await res.body.text()
    t.equal(await counter(admin, 'success'), 1)
  })
})

t.test('contrast: a 500 answer is an error, retried fast', async (t) => {
  const { kc, running } = await setup(t,
    { secret: 'test-secret', fault: { kind: 'status', status: 500, body: '{"error":"unknown_error"}' } })
  // Fast end: attempts at 0, 0.1, 0.3, 0.7 s; at the slow end the fourth would only come at 4.5 s.
  await until(() => kc.tokenRequests >= 4, 3000, 'several quick attempts')
  const lines = failureLines(running)
  t.ok(lines.length >= 3)
  t.same(lines.slice(0, 3).map((l) => l.retryInS), [0.1, 0.2, 0.4], 'fast end of the backoff, doubling')
  t.ok(lines.every((l) => l.level === 40 && l.outcome === 'error'), 'warn level, outcome error')
  t.ok(await counter(running.admin, 'error') >= 3, 'counted as outcome="error"')
  t.equal(await counter(running.admin, 'rejected'), 0, 'not as rejected')
  const res = await request(`${running.url}/api/x`)
  t.equal(res.statusCode, 503)
  t.match(await res.body.json(), { code: 'TOKEN_UNAVAILABLE', credential: 'registry', error: 'unknown_error' })
})

t.test('every rejecting OAuth error is treated alike', async (t) => {
  const cases: Array<[string, { clientId?: string, fault?: Fault }, number, string]> = [
    ['unknown client', { clientId: 'nobody' }, 401, 'invalid_client'],
    ['Keycloak < 20 unknown client',
      { fault: { kind: 'status', status: 400, body: '{"error":"invalid_client","error_description":"Invalid client credentials"}' } }, 400,
      'invalid_client'],
    ['invalid_grant',
      { fault: { kind: 'status', status: 400, body: '{"error":"invalid_grant","error_description":"Invalid user credentials"}' } }, 400,
      'invalid_grant'],
    ['invalid_grant 401',
      { fault: { kind: 'status', status: 401, body: '{"error":"invalid_grant","error_description":"Invalid user credentials"}' } }, 401,
      'invalid_grant'],
  ]
  for (const [name, opts, status, error] of cases) {
    await t.test(name, async (t) => {
      const { running } = await setup(t, { secret: 'test-secret', ...opts })
      await until(() => failureLines(running).length === 1, 3000, 'the first attempt')
      t.match(failureLines(running)[0], { level: 50, outcome: 'rejected', status, error, retryInS: 1.5 })
      t.equal(await counter(running.admin, 'rejected'), 1)
    })
  }
  await t.test('a 400 that is not about the credential (invalid_request) is an error', async (t) => {
    const { running } = await setup(t,
      {
        secret: 'test-secret',
        fault: {
          kind: 'status',
          status: 400,
          body: '{"error":"invalid_request","error_description":"Missing form parameter: grant_type"}',
        },
      })
    await until(() => failureLines(running).length === 1, 3000, 'the first attempt')
    t.match(failureLines(running)[0], { level: 40, outcome: 'error', status: 400, error: 'invalid_request', retryInS: 0.1 })
  })
})
