// The replica holding a credential's lock is killed (SIGKILL) mid-request: the lock expires on its own and one other replica fetches.
import t from 'tap'
import { redisForTest } from '../peers/redis-server.js'
import { registryPeers } from '../helpers/cache.js'
import { allReady, proxied, startReplicas } from '../helpers/replicas.js'
import { until } from '../helpers/sidecar.js'

const REPLICAS = 8
const TIMEOUT_S = 2

const redis = await redisForTest(t)
if (redis !== undefined) {
  t.test('SIGKILL on the lock holder: the others get a token after the lock expires, with one more token request', async (t) => {
    const { kc, doc } = await registryPeers(t, redis)
    // The first token request hangs: its replica holds the lock until it dies.
    kc.setFault({ kind: 'delay', ms: 30_000, times: 1 })
    const replicas = await startReplicas(t, REPLICAS, doc({ timeout: TIMEOUT_S }))
    let holder = ''
    await until(async () => {
      holder = (await redis.dump()).find((e) => e.key.startsWith('tokenproxy:lock:'))?.value ?? ''
      return holder !== ''
    }, 10_000, 'a replica to take the lock')
    const pid = Number(holder.split('/')[1])
    const victim = replicas.find((r) => r.proc.pid === pid)
    t.ok(victim, `the lock names its holder (${holder.replace(/\/[0-9a-f]+$/, '/…')})`)
    t.equal(kc.tokenRequests, 1, 'only the holder asked the identity service')
    victim!.proc.kill('SIGKILL')
    await victim!.exited

    const rest = replicas.filter((r) => r !== victim)
    await allReady(rest, 20_000)
    t.equal(kc.tokenRequests, 2, 'one more token request, by one of the others, once the lock expired')
    const got = await Promise.all(rest.map(async (r) => await proxied(r, '/registry/x')))
    t.same(got.map((g) => g.status), got.map(() => 200))
    t.equal(new Set(got.map((g) => g.authorization)).size, 1, 'and they share its token')
  })
}
