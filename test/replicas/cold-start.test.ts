// 8 replica processes starting at once with requests on every one: the identity service sees one token request.
import t from 'tap'
import { redisForTest } from '../peers/redis-server.js'
import { registryPeers } from '../helpers/cache.js'
import { proxied, readyz, spawnReplica, writeConfig, type Replica } from '../helpers/replicas.js'

const REPLICAS = 8

const redis = await redisForTest(t)
if (redis !== undefined) {
  t.test(`${REPLICAS} replicas, concurrent requests on each during the first fetch: 1 token request`, async (t) => {
    const { kc, doc } = await registryPeers(t, redis)
    // A slow first answer, so most replicas start while the first fetch is in flight.
    kc.setFault({ kind: 'delay', ms: 1500, times: 1 })
    const file = writeConfig(t, doc())
    const spawned = Array.from({ length: REPLICAS }, (_, i) => spawnReplica(file, i))
    t.teardown(async () => {
      for (const { replica } of spawned) replica.proc.kill('SIGKILL')
      await Promise.all(spawned.map(async ({ replica }) => await replica.exited))
    })
    // Each replica gets 5 concurrent requests as soon as it listens, before it holds a token.
    const answers = await Promise.all(spawned.map(async ({ listening }) => {
      const r = await listening
      return { r, got: await Promise.all(Array.from({ length: 5 }, (_, i) => proxied(r, `/registry/item/${i}`))) }
    }))
    const replicas: Replica[] = answers.map((a) => a.r)
    const all = answers.flatMap((a) => a.got)
    t.same(all.map((a) => a.status), all.map(() => 200), 'every request got through')
    t.equal(new Set(all.map((a) => a.authorization)).size, 1, 'with one and the same token')
    t.equal(kc.tokenRequests, 1, `${REPLICAS} replicas asked the identity service once`)

    const sources = (await Promise.all(replicas.map(readyz))).map((r) => r.credentials.registry!.source)
    t.same(sources.filter((s) => s === 'identity-service').length, 1, '/readyz: one replica got it from the identity service')
    t.same(sources.filter((s) => s === 'cache').length, REPLICAS - 1, 'the others from the cache')
    const adopted = replicas.flatMap((r) => r.find(/^token adopted from the shared cache$/))
    t.equal(adopted.length, REPLICAS - 1)
    t.ok(adopted.every((l) => l.source === 'cache' && typeof l.fingerprint === 'string'), 'logged with the fingerprint only')
  })
}
