// 8 replicas refreshing 4 s tokens ahead of expiry through the cache: one token request per refresh period, no client waits.
import t from 'tap'
import { redisForTest } from '../peers/redis-server.js'
import { registryPeers } from '../helpers/cache.js'
import { allReady, proxied, startReplicas } from '../helpers/replicas.js'

const REPLICAS = 8
const LIFESPAN_S = 4
const RUN_MS = 11_000

const redis = await redisForTest(t)
if (redis !== undefined) {
  t.test(`${REPLICAS} replicas, ${LIFESPAN_S} s tokens, ${RUN_MS / 1000} s of traffic: one token request per period`, async (t) => {
    const { kc, doc } = await registryPeers(t, redis, { lifespan: LIFESPAN_S })
    const replicas = await startReplicas(t, REPLICAS, { ...doc(), refresh: { at: 0.7, jitter: 0.05, minValidity: 0.5 } })
    await allReady(replicas)
    const first = kc.tokenRequests
    const start = Date.now()
    const results: Array<{ status: number, ms: number, authorization?: string }> = []
    while (Date.now() - start < RUN_MS) {
      results.push(...await Promise.all(replicas.map(async (r) => await proxied(r, '/registry/tick'))))
      await new Promise((resolve) => setTimeout(resolve, 150))
    }
    const periods = (Date.now() - start) / 1000 / (LIFESPAN_S * 0.7)
    const refreshes = kc.tokenRequests - first
    const slowest = Math.round(Math.max(...results.map((r) => r.ms)))
    t.comment(`${REPLICAS} replicas: ${refreshes} token requests in ${((Date.now() - start) / 1000).toFixed(1)} s ` +
      `(${periods.toFixed(1)} refresh periods); ${results.length} requests, slowest ${slowest} ms`)
    t.equal(first, 1, 'one token request at start')
    // Without the cache every replica refreshes: about REPLICAS per period.
    t.ok(refreshes >= Math.floor(periods) - 1 && refreshes <= Math.ceil(periods) + 1,
      `${refreshes} refreshes for ${periods.toFixed(1)} periods`)
    t.same(results.filter((r) => r.status !== 200), [], 'every request got a valid token')
    t.equal(new Set(results.map((r) => r.authorization)).size, refreshes + 1, 'every replica used the same token in each period')
    t.ok([...new Set(results.map((r) => r.authorization!.slice('Bearer '.length)))].every((tok) => kc.issued.includes(tok)),
      'tokens issued by the identity service')
  })
}
