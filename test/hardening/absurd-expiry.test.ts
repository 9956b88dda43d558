// Absurd lifetimes from an identity service (negative, non-numeric, enormous, a past exp) never break refresh or inject a dead token.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startUpstream } from '../peers/upstream.js'
import { signJwt, startScriptedIdp, type ScriptedAnswer } from '../helpers/scripted-idp.js'
import { scrape, metricValue } from '../helpers/proxy-fixture.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const nowS = (): number => Math.floor(Date.now() / 1000)

interface Run {
  idpRequests: () => number
  url: string
  admin: string
  upRequests: () => number
  logs: import('../helpers/sidecar.js').LogCapture
}

async function run (t: Test, answer: () => Promise<ScriptedAnswer>): Promise<Run> {
  const idp = await startScriptedIdp(answer)
  t.teardown(() => idp.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const running = await startSidecar(t, {
    refresh: { minValidity: 1 },
    credentials: { svc: { type: 'keycloak', tokenUrl: idp.tokenUrl, clientId: 'c', clientSecret: 's' } },
    upstreams: { api: { target: up.url, credential: 'svc', prefix: '/api' } },
  })
  const handled = (): boolean =>
    running.logs.lines.some((l) => l.credential === 'svc' && (l.msg === 'token obtained' || /failed/.test(String(l.msg))))
  await until(() => idp.requests.length >= 1 && handled(), 3000, 'the first answer handled')
  return {
    idpRequests: () => idp.requests.length,
    url: running.url,
    admin: running.admin,
    upRequests: () => up.requests.length,
    logs: running.logs,
  }
}

t.test('dead on arrival: never injected, counted as an error, retried with backoff', async (t) => {
  const cases: Array<[string, () => Promise<ScriptedAnswer>]> = [
    ['negative expires_in', async () => ({ body: { access_token: 'opaque-negative', token_type: 'Bearer', expires_in: -30 } })],
    ['a JWT whose exp has passed, with a long expires_in',
      async () => ({ body: { access_token: await signJwt({ sub: 's', exp: nowS() - 10 }), token_type: 'Bearer', expires_in: 3600 } })],
  ]
  for (const [name, answer] of cases) {
    await t.test(name, async (t) => {
      const r = await run(t, answer)
      const res = await request(`${r.url}/api/x`)
      const problem = await res.body.json() as Record<string, unknown>
      t.equal(res.statusCode, 503)
      t.equal(problem.code, 'TOKEN_UNAVAILABLE')
      t.match(problem.detail, /token arrived with -?[\d.]+s left/)
      t.equal(r.upRequests(), 0, 'nothing forwarded')
      t.equal(metricValue(await scrape(r.admin), 'tokenproxy_token_requests_total', { credential: 'svc', outcome: 'error' }) >= 1, true,
        'metric outcome error')
      await until(() => r.idpRequests() >= 2, 2000, 'a retry')
      t.ok(r.idpRequests() <= 5, `backed off (${r.idpRequests()} requests in ~0.5 s)`)
    })
  }
})

t.test('usable but odd: the lifetime falls back sensibly and the refresh is not immediate', async (t) => {
  const cases: Array<[string, () => Promise<ScriptedAnswer>, string, number]> = [
    ['non-numeric expires_in on an opaque token: the 60 s default',
      async () => ({ body: { access_token: 'opaque-nan', token_type: 'Bearer', expires_in: 'soon' } }), 'default', 60],
    ['an enormous expires_in on an opaque token: capped at a year',
      async () => ({ body: { access_token: 'opaque-huge', token_type: 'Bearer', expires_in: 1e12 } }), 'expires_in', 365 * 24 * 3600],
    ['an enormous expires_in on a JWT: its exp rules',
      async () => ({ body: { access_token: await signJwt({ sub: 's', exp: nowS() + 300 }), token_type: 'Bearer', expires_in: 1e12 } }),
      'exp', 300],
    ['a JWT whose exp is centuries away, without expires_in: capped at a year, like expires_in',
      async () => ({ body: { access_token: await signJwt({ sub: 's', exp: nowS() + 1e10 }), token_type: 'Bearer' } }), 'exp',
      365 * 24 * 3600],
  ]
  for (const [name, answer, source, lifetime] of cases) {
    await t.test(name, async (t) => {
      const r = await run(t, answer)
      const obtained = r.logs.find('token obtained')[0]!
      t.equal(obtained.expirySource, source)
      t.ok(Math.abs(Number(obtained.lifetimeS) - lifetime) <= 1, `lifetime ${String(obtained.lifetimeS)} ≈ ${lifetime}`)
      const res = await request(`${r.url}/api/x`)
      t.equal(res.statusCode, 200)
      await res.body.text()
      await new Promise((resolve) => setTimeout(resolve, 300))
      t.equal(r.idpRequests(), 1, 'no refresh storm')
    })
  }
})
