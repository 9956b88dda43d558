// rediss:// verifies the server's certificate: shared with `ca`, alone (one warning) without it.
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { redisForTest } from '../peers/redis-server.js'
import { startUpstream } from '../peers/upstream.js'
import { cacheBlock } from '../helpers/cache.js'
import { startSidecar } from '../helpers/sidecar.js'
import { selfSigned } from '../helpers/tls-peers.js'

const tls = selfSigned(t.testdir({}))
const redis = await redisForTest(t, { tls })
if (redis !== undefined) {
  const kc = await startKeycloak({ clients: { 'test-ext': { secret: 's3cret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const start = async (ca: boolean) => await startSidecar(t, {
    credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
    cache: cacheBlock(redis, ca ? { ca: { file: tls.certFile } } : {}),
  })
  const get = async (url: string): Promise<number> => {
    const res = await request(`${url}/registry/x`)
    await res.body.text()
    return res.statusCode
  }

  t.test('with the CA: two sidecars share one token over TLS', async (t) => {
    t.match(redis.url, /^rediss:\/\//)
    const a = await start(true)
    t.equal(await get(a.url), 200)
    const b = await start(true)
    t.equal(await get(b.url), 200)
    t.equal(kc.tokenRequests, 1)
    t.same([...a.logs.find(/unavailable/), ...b.logs.find(/unavailable/)], [])
  })

  t.test('without it: the self-signed certificate is refused, the sidecar works alone with one warning', async (t) => {
    const before = kc.tokenRequests
    const c = await start(false)
    t.equal(await get(c.url), 200)
    t.equal(kc.tokenRequests - before, 1, 'its own token request')
    const warnings = c.logs.find(/^shared token cache .* unavailable/)
    t.equal(warnings.length, 1)
    t.match(String(warnings[0]!.reason), /self[- ]signed|certificate/i)
  })
}
