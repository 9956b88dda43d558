// Redis frozen (SIGSTOP), killed, refusing the password: each replica works alone, warns once per outage, and goes back to the cache.
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { redisForTest } from '../peers/redis-server.js'
import { startUpstream } from '../peers/upstream.js'
import { cacheBlock } from '../helpers/cache.js'
import { allReady, proxied, startReplicas, type Replica } from '../helpers/replicas.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const REPLICAS = 8
/** Far above the 250 ms a request may wait on Redis, for a machine shared with other work: only a hang fails it. */
const GENEROUS_MS = 3000

const redis = await redisForTest(t)
if (redis !== undefined) {
  const kc = await startKeycloak({ clients: { 'test-ext': { secret: 's3cret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const doc = {
    credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
  }

  const outages = (r: Replica): number => r.find(/^shared token cache .* unavailable/).length
  const returns = (r: Replica): number => r.find(/^shared token cache \S+ is available again$/).length

  /** The upstream refuses the tokens the replicas use now; every replica gets a request at once. */
  async function refuseAndBurst (replicas: Replica[]): Promise<{ statuses: number[], slowest: number, tokens: Set<string | undefined> }> {
    const current = await Promise.all(replicas.map(async (r) => (await proxied(r, '/registry/which')).authorization!.slice('Bearer '.length)))
    up.setMode({ kind: 'reject', tokens: new Set(current) })
    const got = await Promise.all(replicas.map(async (r) => await proxied(r, '/registry/after-401')))
    return { statuses: got.map((g) => g.status), slowest: Math.max(...got.map((g) => g.ms)), tokens: new Set(got.map((g) => g.authorization)) }
  }

  t.test(`${REPLICAS} replicas: Redis frozen, then killed, then back`, async (t) => {
    const replicas = await startReplicas(t, REPLICAS, { ...doc, cache: cacheBlock(redis) })
    await allReady(replicas)
    t.equal(kc.tokenRequests, 1)

    redis.freeze()
    const frozen = await refuseAndBurst(replicas)
    t.comment(`Redis frozen: the slowest of ${REPLICAS} requests that needed a new token took ${Math.round(frozen.slowest)} ms`)
    t.same(frozen.statuses, frozen.statuses.map(() => 200), 'frozen: every replica fetched a token alone and replayed')
    t.ok(frozen.slowest < GENEROUS_MS, `and none hung on Redis (slowest ${Math.round(frozen.slowest)} ms)`)
    t.same(replicas.map(outages), replicas.map(() => 1), 'one warning per replica')
    redis.thaw()
    await until(() => replicas.every((r) => returns(r) === 1), 10_000, 'every replica back on the cache')

    let before = kc.tokenRequests
    const thawed = await refuseAndBurst(replicas)
    t.same(thawed.statuses, thawed.statuses.map(() => 200))
    t.ok(kc.tokenRequests - before <= 1, `back on the cache: ${kc.tokenRequests - before} token request for ${REPLICAS} replicas`)
    t.equal(thawed.tokens.size, 1, 'sharing one token again')

    await redis.kill()
    const killed = await refuseAndBurst(replicas)
    t.same(killed.statuses, killed.statuses.map(() => 200), 'killed: every replica fetched alone')
    t.ok(killed.slowest < GENEROUS_MS, `slowest ${Math.round(killed.slowest)} ms`)
    t.same(replicas.map(outages), replicas.map(() => 2), 'one more warning per replica, for this outage')
    await redis.restart()
    await until(() => replicas.every((r) => returns(r) === 2), 15_000, 'every replica back on the restarted Redis')

    before = kc.tokenRequests
    const restarted = await refuseAndBurst(replicas)
    t.same(restarted.statuses, restarted.statuses.map(() => 200))
    t.equal(kc.tokenRequests - before, 1, 'an empty Redis again: one token request for all replicas')
    t.equal(restarted.tokens.size, 1)
    const ready = await Promise.all(replicas.map(async (r) => (await request(`${r.admin}/readyz`)).statusCode))
    t.same(ready, ready.map(() => 200), '/readyz never depended on Redis')
    up.setMode({ kind: 'echo' })
  })

  t.test('Redis refusing the password: works alone, one warning, no password in the logs', async (t) => {
    const before = kc.tokenRequests
    const running = await startSidecar(t, { ...doc, cache: cacheBlock(redis, { password: 'not-the-redis-password' }) })
    const res = await request(`${running.url}/registry/x`)
    await res.body.text()
    t.equal(res.statusCode, 200)
    t.equal(kc.tokenRequests - before, 1)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const warnings = running.logs.find(/^shared token cache .* unavailable/)
    t.equal(warnings.length, 1, 'one warning, not one per reconnect attempt')
    t.match(String(warnings[0]!.reason), /WRONGPASS|NOAUTH|invalid/i)
    t.equal((await request(`${running.admin}/readyz`)).statusCode, 200)
  })
}
