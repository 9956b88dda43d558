// A reload with a cache: an added credential reads the cache first (its identity is known to the manager); a
// changed cache block takes a restart.
import t from 'tap'
import { request } from 'undici'
import { stringify } from 'yaml'
import { parseConfig } from '../../src/configuration.js'
import { redisForTest } from '../peers/redis-server.js'
import { cacheBlock, registryPeers } from '../helpers/cache.js'
import { startSidecar } from '../helpers/sidecar.js'

const redis = await redisForTest(t)
if (redis !== undefined) {
  t.test('a credential added by a reload adopts the cached token; a changed cache is logged as needing a restart', async (t) => {
    const { kc, up, registry, doc } = await registryPeers(t, redis)
    const first = await startSidecar(t, doc())
    const res = await request(`${first.url}/registry/x`)
    const token = (await res.body.json() as { authorization: string }).authorization
    t.equal(kc.tokenRequests, 1)

    // The same client under a new name, added by a reload, with the cache block's URL changed.
    const base = doc() as { upstreams: Record<string, unknown> }
    const next = parseConfig(stringify({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      credentials: { registry, copy: registry },
      upstreams: { ...base.upstreams, b: { target: up.url, credential: 'copy', prefix: '/b' } },
      cache: cacheBlock(redis, { url: redis.url.replace('127.0.0.1', 'localhost') }),
    }), {})
    await first.sidecar.reload(next)
    const again = await request(`${first.url}/b/x`)
    t.equal((await again.body.json() as { authorization: string }).authorization, token, 'the added credential adopted the cached token')
    t.equal(kc.tokenRequests, 1, 'without a token request')
    t.equal(first.logs.find(/^cache changed in the config: that takes a restart/).length, 1)
    t.equal(first.sidecar.config.cache?.redis.url, redis.url, 'the running cache stays')
  })
}
