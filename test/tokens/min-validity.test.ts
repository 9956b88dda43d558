// A token with less than refresh.minValidity left is never injected; one that arrives (nearly) expired is refused outright.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startUpstream, type Upstream } from '../peers/upstream.js'
import { signJwt, startScriptedIdp, type Script, type ScriptedIdp } from '../helpers/scripted-idp.js'
import { startSidecar, until, type Running } from '../helpers/sidecar.js'

const LIFE_MS = 2500
const MIN_VALIDITY_MS = 1500
/** Milliseconds between the sidecar's decision and the upstream's receipt, plus the IdP's answer and the sidecar's receipt. */
const SLACK_MS = 150

async function setup (t: Test, script: Script,
  refresh: Record<string, number>): Promise<{ idp: ScriptedIdp, up: Upstream, running: Running }> {
  const idp = await startScriptedIdp(script)
  t.teardown(() => idp.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const running = await startSidecar(t, {
    refresh,
    credentials: { svc: { type: 'keycloak', tokenUrl: idp.tokenUrl, clientId: 'c', clientSecret: 's' } },
    upstreams: { api: { target: up.url, credential: 'svc', prefix: '/api' } },
  })
  return { idp, up, running }
}

/** Sends a request every 50 ms for `ms`; returns each status with the time its answer arrived. */
async function traffic (url: string, ms: number): Promise<Array<{ status: number, at: number, body: string }>> {
  const out: Array<{ status: number, at: number, body: string }> = []
  const end = Date.now() + ms
  for (let i = 0; Date.now() < end; i++) {
    const res = await request(`${url}/api/r${i}`)
    out.push({ status: res.statusCode, at: Date.now(), body: await res.body.text() })
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return out
}

/** Remaining life of the token each upstream request carried, when the upstream got it (a lower bound of what the sidecar saw). */
function remainingAtUpstream (idp: ScriptedIdp, up: Upstream, lifeMs: number): number[] {
  return up.requests.map((rec) => {
    const token = /^Bearer (\S+)$/.exec(rec.headers.authorization ?? '')?.[1]
    const issued = idp.requests.find((r) => (r.answer as { access_token?: string } | undefined)?.access_token === token)
    if (issued === undefined) throw new Error(`upstream got a token the IdP never issued: ${token}`)
    return issued.answeredAt! + lifeMs - rec.time
  })
}

const opaque = (n: number, expiresIn: number) => ({ body: { access_token: `tok-${n}`, token_type: 'Bearer', expires_in: expiresIn } })

t.test('IdP down: the token stops being injected minValidity before it expires', async (t) => {
  // 2.5 s tokens, minValidity 1.5 s: usable for 1 s; the refresh (at 0.9 s) and every retry fail.
  const { idp, up, running } = await setup(t, (n) => (n === 1 ? opaque(1, LIFE_MS / 1000) : 'down'),
    { at: 0.5, jitter: 0, minValidity: MIN_VALIDITY_MS / 1000 })
  await until(() => idp.requests.length === 1 && idp.requests[0]!.answeredAt !== undefined, 3000, 'the first token')
  const expiry = idp.requests[0]!.answeredAt! + LIFE_MS
  const results = await traffic(running.url, LIFE_MS + 300)

  const firstRefusal = results.findIndex((r) => r.status !== 200)
  t.ok(firstRefusal > 3, `served while usable (${firstRefusal} requests)`)
  t.same(results.slice(firstRefusal).map((r) => r.status), Array(results.length - firstRefusal).fill(503), 'then only 503s')
  t.match(JSON.parse(results[firstRefusal]!.body), { code: 'TOKEN_UNAVAILABLE', credential: 'svc' })
  t.ok(results[firstRefusal]!.at < expiry - 500, 'the 503s began well before the token actually expired')
  t.equal(up.requests.length, firstRefusal, 'every 200 was a forwarded request, no 503 was')
  const remaining = remainingAtUpstream(idp, up, LIFE_MS)
  const least = Math.min(...remaining)
  t.ok(least >= MIN_VALIDITY_MS - SLACK_MS, `the upstream never got the token with less than minValidity left (least: ${least} ms)`)
})

t.test('healthy IdP: the refresh lands before minValidity, so every request carries a token with enough life', async (t) => {
  // 5 s tokens, minValidity 2.5 s: `at` 0.9 would be 4.5 s, past the 2.5 s usable window: the refresh must come earlier.
  const life = 5000
  const minValidity = 2500
  const { idp, up, running } = await setup(t, (n) => opaque(n, life / 1000), { at: 0.9, jitter: 0, minValidity: minValidity / 1000 })
  await until(() => idp.requests[0]?.answeredAt !== undefined, 3000, 'the first token')
  const results = await traffic(running.url, 3500)
  t.same(results.map((r) => r.status), Array(results.length).fill(200), `all ${results.length} requests served`)
  const tokens = new Set(up.requests.map((r) => r.headers.authorization))
  t.ok(tokens.size >= 2, `the token was replaced ahead of time (${tokens.size} tokens used)`)
  const least = Math.min(...remainingAtUpstream(idp, up, life))
  t.ok(least >= minValidity - SLACK_MS, `never less than minValidity left (least: ${least} ms)`)
})

t.test('a token that arrives expired, or with less than minValidity, is refused and never forwarded', async (t) => {
  const past = Math.floor(Date.now() / 1000) - 10
  const cases: Array<[string, Script]> = [
    ['expires_in 0', (n) => opaque(n, 0)],
    ['expires_in 1 with minValidity 1.5', (n) => opaque(n, 1)],
    ['JWT exp already past (expires_in 300)',
      async () => ({ body: { access_token: await signJwt({ sub: 'svc', exp: past }), token_type: 'Bearer', expires_in: 300 } })],
  ]
  for (const [name, script] of cases) {
    await t.test(name, async (t) => {
      const { idp, up, running } = await setup(t, script, { minValidity: 1.5 })
      await until(() => running.logs.find(/^token request for credential "\w+" failed/).length >= 1, 3000, 'the first attempt')
      const res = await request(`${running.url}/api/x`)
      t.equal(res.statusCode, 503)
      t.match(res.headers['content-type'], /^application\/problem\+json(;|$)/)
      t.match(await res.body.json(),
        { code: 'TOKEN_UNAVAILABLE', credential: 'svc', detail: /token arrived with .*not more than refresh\.minValidity/ })
      const readyz = await request(`${running.admin}/readyz`)
      t.equal(readyz.statusCode, 503)
      const body = await readyz.body.json() as { credentials: { svc: { expiresAt: string | null, lastError: Record<string, unknown> } } }
      t.match(body.credentials.svc.lastError, { error: 'token_expired_on_arrival', outcome: 'error' })
      t.equal(body.credentials.svc.expiresAt, null, 'the refused token was not kept')
      t.equal(up.requests.length, 0, 'the upstream saw no request')
      t.ok(idp.requests.length >= 1)
    })
  }
})
