// A stalled identity service or upstream (no answer, or a TLS handshake that never completes) costs a waiting
// request the configured timeout, not more, even with garbage collections forced all the while (nodejs/node#57736).
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { request } from 'undici'
import { runCli } from '../helpers/cli-process.js'
import { startSilentPeer } from '../helpers/tls-peers.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'

const FORCE_GC = fileURLToPath(new URL('../helpers/force-gc.mjs', import.meta.url))
/** The configured timeout for the stalled peers, in seconds. */
const TIMEOUT = 2
/** A generous bound: far under undici's 10 s connect timeout and its 300 s headers timeout, which won before. */
const BOUND_MS = (TIMEOUT + 3) * 1000

t.test('stalled peers answer within the configured timeout while gc() runs every 20 ms under load', async (t) => {
  const kc = await startKeycloak({ clients: { gc: { secret: 'gc-S3cret-value' } } })
  const silentHttp = await startSilentPeer()
  const silentTls = await startSilentPeer()
  const silentUpstream = await startSilentPeer()
  t.teardown(async () => { await Promise.all([kc.close(), silentHttp.close(), silentTls.close(), silentUpstream.close()]) })
  const sidecar = await runCli(t, {
    credentials: {
      stalled: {
        type: 'keycloak',
        tokenUrl: `http://127.0.0.1:${silentHttp.port}/token`,
        clientId: 'c',
        clientSecret: 'stalled-S3cret',
        timeout: TIMEOUT,
      },
      handshake: {
        type: 'keycloak',
        tokenUrl: `https://127.0.0.1:${silentTls.port}/token`,
        clientId: 'c',
        clientSecret: 'handshake-S3cret',
        timeout: TIMEOUT,
      },
      ok: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'gc', clientSecret: 'gc-S3cret-value' },
    },
    upstreams: {
      a: { target: kc.root, credential: 'stalled', prefix: '/a' },
      b: { target: kc.root, credential: 'handshake', prefix: '/b' },
      c: { target: `https://127.0.0.1:${silentUpstream.port}`, credential: 'ok', prefix: '/c', timeout: TIMEOUT },
    },
  }, ['--expose-gc', '--import', FORCE_GC])
  const base = sidecar.addresses.listen!
  const admin = sidecar.addresses.admin!

  // Light load while the requests wait: the admin routes scraped back to back, a few requests in flight.
  let loading = true
  const load = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- the test sets `loading` to false when it is done
    while (loading) {
      await Promise.all([`${admin}/metrics`, `${admin}/readyz`].map(async (u) => { await (await request(u)).body.text() }))
    }
  })()
  const timed = async (path: string): Promise<{ status: number, code: unknown, ms: number }> => {
    const start = Date.now()
    const res = await request(`${base}${path}`, { headersTimeout: 60_000 })
    const body = await res.body.json() as { code?: unknown }
    return { status: res.statusCode, code: body.code, ms: Date.now() - start }
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  const results = await Promise.all([
    ...Array.from({ length: 5 }, async () => await timed('/a/x')),
    ...Array.from({ length: 5 }, async () => await timed('/b/x')),
    ...Array.from({ length: 5 }, async () => await timed('/c/x')),
  ])
  loading = false
  await load

  const by = (i: number): Array<{ status: number, code: unknown, ms: number }> => results.slice(i * 5, i * 5 + 5)
  const worst = (i: number): number => Math.max(...by(i).map((r) => r.ms))
  t.same(by(0).map((r) => [r.status, r.code]), Array(5).fill([503, 'TOKEN_UNAVAILABLE']), 'identity service that never answers: 503')
  t.same(by(1).map((r) => [r.status, r.code]), Array(5).fill([503, 'TOKEN_UNAVAILABLE']),
    'identity service whose TLS handshake never completes: 503')
  t.same(by(2).map((r) => [r.status, r.code]), Array(5).fill([504, 'UPSTREAM_TIMEOUT']),
    'upstream whose TLS handshake never completes: 504')
  for (const [i, what] of ['stalled identity service', 'stalled identity-service handshake', 'stalled upstream handshake'].entries()) {
    t.ok(worst(i) < BOUND_MS, `${what}: the slowest answer came after ${worst(i)} ms (timeout ${TIMEOUT} s, bound ${BOUND_MS} ms)`)
  }
  t.ok(silentHttp.accepted >= 1 && silentTls.accepted >= 1 && silentUpstream.accepted >= 1, 'every stalled peer was connected to')
  // The failed fetches were retried (backoff from 1 s), not left hanging.
  const failed = sidecar.lines.filter((l) => l.credential === 'stalled' &&
    /token request for credential "stalled" failed: token request timed out/.test(String(l.msg)))
  t.ok(failed.length >= 1, `the stalled credential's fetch failed as a timeout (${failed.length} time(s)) and was rescheduled`)
  t.comment(`waits with gc() forced: identity service ${worst(0)} ms, its TLS handshake ${worst(1)} ms, ` +
    `upstream TLS handshake ${worst(2)} ms; configured timeout ${TIMEOUT * 1000} ms`)
})
