// A request that finds a usable token costs no Redis command; one that needs a token does, and /metrics counts them.
import t from 'tap'
import { request } from 'undici'
import { redisForTest } from '../peers/redis-server.js'
import { registryPeers } from '../helpers/cache.js'
import { startSidecar } from '../helpers/sidecar.js'

const REQUESTS = 200

const redis = await redisForTest(t)
if (redis !== undefined) {
  t.test(`${REQUESTS} proxied requests with a usable token: 0 Redis commands`, async (t) => {
    const { up, doc } = await registryPeers(t, redis)
    const running = await startSidecar(t, doc())
    const get = async (path: string): Promise<number> => {
      const res = await request(`${running.url}${path}`)
      await res.body.text()
      return res.statusCode
    }
    t.equal(await get('/registry/warm'), 200)
    const before = await redis.commandCount()
    for (let i = 0; i < REQUESTS; i += 20) {
      await Promise.all(Array.from({ length: 20 }, async (_, j) => t.equal(await get(`/registry/${i + j}`), 200)))
    }
    const during = await redis.commandCount() - before
    t.comment(`Redis commands for ${REQUESTS} proxied requests with a usable token: ${during} (${during / REQUESTS} per request)`)
    t.equal(during, 0, 'no Redis round trip')

    // The counter counts: a request whose token the upstream refuses needs Redis (drop, read, lock, write, unlock).
    const token = (await running.sidecar.tokens.get('registry')).token
    up.setMode({ kind: 'reject', tokens: new Set([token]) })
    t.equal(await get('/registry/after-401'), 200)
    t.ok(await redis.commandCount() - before >= 4, 'a request that needs a new token goes to Redis')

    const metrics = await (await request(`${running.admin}/metrics`)).body.text()
    for (const [operation, outcome] of [['get', 'miss'], ['lock', 'ok'], ['set', 'ok'], ['delete', 'ok']]) {
      t.match(metrics, new RegExp(`^tokenproxy_cache_operations_total\\{operation="${operation}",outcome="${outcome}"\\} [1-9]`, 'm'),
        `${operation} ${outcome} counted`)
    }
    t.equal(JSON.parse(await (await request(`${running.admin}/readyz`)).body.text()).credentials.registry.source, 'identity-service')
  })
}
