// The Redis client is loaded only when `cache` is configured: a sidecar without one never evaluates ioredis.
import { createRequire } from 'node:module'
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { newCacheKey } from '../helpers/cache.js'
import { startSidecar } from '../helpers/sidecar.js'

const require = createRequire(import.meta.url)
const ioredisLoaded = (): boolean => Object.keys(require.cache).some((f) => f.includes('/node_modules/ioredis/'))

t.test('no cache: no ioredis; a cache (here an unreachable Redis): ioredis, and the sidecar works alone', async (t) => {
  const kc = await startKeycloak({ clients: { 'test-ext': { secret: 's3cret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const doc = {
    credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
  }
  const get = async (url: string): Promise<number> => {
    const res = await request(`${url}/registry/x`)
    await res.body.text()
    return res.statusCode
  }
  const plain = await startSidecar(t, doc)
  t.equal(await get(plain.url), 200)
  t.notOk(ioredisLoaded(), 'without cache, the Redis client is not loaded')

  // Port 1 on loopback: nothing listens, the connection is refused at once.
  const cached = await startSidecar(t, { ...doc, cache: { redis: { url: 'redis://127.0.0.1:1/0', key: newCacheKey() } } })
  t.equal(await get(cached.url), 200, 'Redis refused: the sidecar fetched its own token')
  t.ok(ioredisLoaded(), 'with cache, it is')
  t.equal(cached.logs.find(/^shared token cache .* unavailable/).length, 1)
  t.equal(kc.tokenRequests, 2)
})
