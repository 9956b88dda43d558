// A second real Keycloak, started with --http-relative-path=/auth: `url: .../auth` works, and the server stopped
// and started again mid-traffic.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { decodeJwt } from 'jose'
import { request } from 'undici'
import { KeycloakProcess, bearerSeen, confidentialClient, findJava, realKeycloak } from '../peers/keycloak-server.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

// Its own server: stopping the run's shared one would fail the files that use it meanwhile.
// The first run on a machine also builds this second copy (the relative path is a build option).
t.setTimeout(420_000)

const shared = await realKeycloak(t)
if (shared) {
  t.test('legacy /auth root, then Keycloak down and back while requests flow', async (t) => {
    const realm = 'outage'
    const dir = t.testdir({})
    // Keycloak imports only files named <realm>-realm.json.
    const file = join(dir, `${realm}-realm.json`)
    writeFileSync(file,
      JSON.stringify({
        realm,
        enabled: true,
        sslRequired: 'none',
        accessTokenLifespan: 8,
        clients: [confidentialClient('legacy', 'legacy-secret')],
      }))
    const kc = await KeycloakProcess.create(findJava()!, { relativePath: '/auth', importRealms: [file] })
    t.teardown(() => kc.dispose())
    let began = Date.now()
    kc.start()
    await kc.ready()
    t.comment(`Keycloak with /auth ready in ${Date.now() - began} ms`)
    t.match(kc.root, /\/auth$/)

    const up = await startUpstream()
    t.teardown(() => up.close())
    const { url, admin } = await startSidecar(t, {
      refresh: { minValidity: 1 },
      credentials: { legacy: { type: 'keycloak', url: kc.root, realm, clientId: 'legacy', clientSecret: 'legacy-secret' } },
      upstreams: { api: { target: up.url, credential: 'legacy', prefix: '/api' } },
    })
    const statuses: Array<{ at: number, status: number, code?: string, retryAfter?: string }> = []
    let flowing = true
    const flow = (async () => {
      // eslint-disable-next-line no-unmodified-loop-condition -- the test sets `flowing` to false when it is done
      while (flowing) {
        const res = await request(`${url}/api/start-bp`)
        const body = await res.body.text()
        const code = res.statusCode === 503 ? (JSON.parse(body) as { code: string }).code : undefined
        if (res.statusCode === 200) bearerSeen(up.requests.at(-1)!.headers.authorization)
        statuses.push({ at: Date.now(), status: res.statusCode, code, retryAfter: res.headers['retry-after'] as string | undefined })
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()
    t.teardown(async () => { flowing = false; await flow })
    await until(() => statuses.some((s) => s.status === 200), 20_000, 'a first proxied request')
    const claims = decodeJwt(up.requests.at(-1)!.headers.authorization!.slice(7))
    t.equal(claims.iss, `${kc.root}/realms/${realm}`, 'the token\'s iss carries the /auth root')
    const exp = Number(claims.exp) * 1000

    const stopAt = Date.now()
    await kc.stop()
    t.comment(`Keycloak stopped in ${Date.now() - stopAt} ms`)
    await until(() => statuses.at(-1)?.status === 503, 20_000, 'a 503 once the token has expired')
    const firstFailure = statuses.find((s) => s.status !== 200 && s.at > stopAt)!
    t.equal(firstFailure.code, 'TOKEN_UNAVAILABLE', 'then 503 TOKEN_UNAVAILABLE')
    t.match(firstFailure.retryAfter, /^[1-9]\d*$/, 'with Retry-After')
    t.ok(firstFailure.at >= exp - 1000 - 500, 'not before the token had less than minValidity left')
    t.ok(statuses.filter((s) => s.at > stopAt && s.at < exp - 1500).every((s) => s.status === 200),
      'while Keycloak was down, the valid token kept serving')
    const readyz = await (await request(`${admin}/readyz`)).body.json() as {
      credentials: { legacy: { state: string, lastError: { outcome: string } } }
    }
    t.match(readyz.credentials.legacy, { state: 'expired', lastError: { outcome: 'error' } }, '/readyz: expired, the last attempt an error')

    began = Date.now()
    kc.start()
    await kc.ready()
    t.comment(`Keycloak back in ${Date.now() - began} ms`)
    await until(() => statuses.at(-1)?.status === 200, 30_000, 'recovery without restarting tokenproxy')
    t.ok(decodeJwt(up.requests.at(-1)!.headers.authorization!.slice(7)).exp! * 1000 > exp, 'with a new token')
    t.same([...new Set(statuses.map((s) => s.status))].sort(), [200, 503], 'only 200s and 503s: no 502, no hang')
  })
}
