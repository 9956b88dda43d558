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
/** Short tokens, so refresh ahead (which goes back to the cache after an outage) comes round in seconds. */
const LIFESPAN_S = 4
/** Far above the 250 ms a request may wait on Redis, for a machine shared with other work: only a hang fails it. */
const GENEROUS_MS = 3000

const redis = await redisForTest(t)
if (redis !== undefined) {
  const kc = await startKeycloak({ lifespan: LIFESPAN_S, clients: { 'test-ext': { secret: 's3cret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const doc = {
    refresh: { at: 0.7, jitter: 0.05, minValidity: 0.5 },
    credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
  }

  const outages = (r: Replica): number => r.find(/^shared token cache .* unavailable/).length
  const returns = (r: Replica): number => r.find(/^shared token cache \S+ is available again$/).length

  /** The upstream refuses the tokens the replicas use now; every replica gets a request at once. */
  async function refuseAndBurst (replicas: Replica[]): Promise<{ statuses: number[], slowest: number, tokens: Set<string | undefined> }> {
    const current = [...await tokensInUse(replicas)].map((a) => a!.slice('Bearer '.length))
    up.setMode({ kind: 'reject', tokens: new Set(current) })
    const got = await Promise.all(replicas.map(async (r) => await proxied(r, '/registry/after-401')))
    return {
      statuses: got.map((g) => g.status),
      slowest: Math.max(...got.map((g) => g.ms)),
      tokens: new Set(got.map((g) => g.authorization)),
    }
  }

  /** The tokens the replicas inject now, one request each. */
  async function tokensInUse (replicas: Replica[]): Promise<Set<string | undefined>> {
    return new Set((await Promise.all(replicas.map(async (r) => await proxied(r, '/registry/which')))).map((g) => g.authorization))
  }

  /** Resolves once every replica injects the same token, i.e. they share through the cache again. */
  async function sharingAgain (replicas: Replica[]): Promise<void> {
    await until(async () => (await tokensInUse(replicas)).size === 1, 4 * LIFESPAN_S * 1000, 'every replica on one token again')
  }

  t.test(`${REPLICAS} replicas: Redis frozen, then killed, then back`, async (t) => {
    const replicas = await startReplicas(t, REPLICAS, { ...doc, cache: cacheBlock(redis) })
    await allReady(replicas)
    t.equal(kc.tokenRequests, 1)

    // Frozen: a request that needs a new token (its token refused upstream) must not hang on Redis.
    redis.freeze()
    const frozen = await refuseAndBurst(replicas)
    t.comment(`Redis frozen: the slowest of ${REPLICAS} requests that needed a new token took ${Math.round(frozen.slowest)} ms`)
    t.same(frozen.statuses, frozen.statuses.map(() => 200), 'frozen: every replica fetched a token alone and replayed')
    t.ok(frozen.slowest < GENEROUS_MS, `and none hung on Redis (slowest ${Math.round(frozen.slowest)} ms)`)
    t.same(replicas.map(outages), replicas.map(() => 1), 'one warning per replica')
    // From the 401 to giving up on Redis, by each replica's own log: the 250 ms command timeout, plus scheduling.
    const at = (r: Replica, msg: RegExp): number => Date.parse(String(r.find(msg)[0]!.time))
    const waits = replicas.map((r) => at(r, /unavailable/) - at(r, /^upstream refused the token/))
    t.comment(`Redis frozen: each replica waited ${Math.min(...waits)}-${Math.max(...waits)} ms on Redis before working alone`)
    t.ok(Math.max(...waits) < GENEROUS_MS, 'a bounded wait')
    t.ok(frozen.tokens.size > 1, `alone: ${frozen.tokens.size} tokens for ${REPLICAS} replicas`)
    up.setMode({ kind: 'echo' })
    redis.thaw()
    await until(() => replicas.every((r) => returns(r) === 1), 10_000, 'every replica back on the cache')
    // The next refresh goes through the cache again: the first replica there refreshes, the rest adopt.
    await sharingAgain(replicas)
    t.pass('after the thaw, one token for all replicas again at the next refresh')

    await redis.kill()
    const before = kc.tokenRequests
    await new Promise((resolve) => setTimeout(resolve, 1.5 * LIFESPAN_S * 1000))
    const alone = await Promise.all(replicas.map(async (r) => await proxied(r, '/registry/killed')))
    t.same(alone.map((a) => a.status), alone.map(() => 200), 'killed: every replica refreshed alone and kept serving')
    t.ok(kc.tokenRequests - before >= REPLICAS, `${kc.tokenRequests - before} token requests: each replica on its own`)
    t.same(replicas.map(outages), replicas.map(() => 2), 'one more warning per replica, for this outage')
    await redis.restart()
    await until(() => replicas.every((r) => returns(r) === 2), 15_000, 'every replica back on the restarted Redis')
    await sharingAgain(replicas)
    t.pass('and on the restarted, empty Redis, one token for all again')
    const ready = await Promise.all(replicas.map(async (r) => (await request(`${r.admin}/readyz`)).statusCode))
    t.same(ready, ready.map(() => 200), '/readyz never depended on Redis')
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
