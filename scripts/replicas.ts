// Runs 1, 10 and 50 replica processes of the built CLI against one emulated Keycloak, without and with the Redis cache,
// and prints the identity service's token requests per refresh period: `npm run replicas` (REPLICAS=1,10,50 PERIODS=4).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startKeycloak } from '../test/peers/keycloak-emulator.js'
import { redisUnavailable, startRedis, type RedisPeer } from '../test/peers/redis-server.js'
import { newCacheKey } from '../test/helpers/cache.js'
import { allReady, launchReplicas, writeConfigIn } from '../test/helpers/replicas.js'

const COUNTS = (process.env.REPLICAS ?? '1,10,50').split(',').map(Number)
const PERIODS = Number(process.env.PERIODS ?? 4)
/** Token lifetime (s): short, so a run sees several refresh periods; refresh at 0.8 of it. */
const LIFESPAN_S = Number(process.env.LIFESPAN ?? 8)
const AT = 0.8

interface Row {
  replicas: number
  cache: boolean
  coldStart: number
  window: number
  rounds: number
  perRound: number
  maxRound: number
  startS: number
}

/** Token requests grouped into refresh rounds: a gap of more than half a period starts a new round. */
function rounds (times: number[], periodMs: number): number[] {
  const out: number[] = []
  let last = -Infinity
  for (const time of [...times].sort((a, b) => a - b)) {
    if (time - last > periodMs / 2) out.push(0)
    out[out.length - 1]! += 1
    last = time
  }
  return out
}

async function measure (n: number, redis: RedisPeer | undefined): Promise<Row> {
  const kc = await startKeycloak({ lifespan: LIFESPAN_S, clients: { 'test-ext': { secret: 's3cret' } } })
  const dir = mkdtempSync(join(tmpdir(), 'tokenproxy-replicas-'))
  try {
    const file = writeConfigIn(dir, {
      refresh: { at: AT, jitter: 0.05, minValidity: 1 },
      credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' } },
      upstreams: { registry: { target: 'http://127.0.0.1:9', credential: 'registry', prefix: '/registry' } },
      ...(redis === undefined ? {} : { cache: { redis: { url: redis.url, password: redis.password, key: newCacheKey() } } }),
    })
    const started = Date.now()
    const { replicas, stop } = await launchReplicas(file, n, 180_000)
    try {
      await allReady(replicas, 120_000)
      const startS = (Date.now() - started) / 1000
      const coldStart = kc.tokenRequests
      // Count over whole periods, starting one period after the first tokens (so the start is not counted).
      const period = LIFESPAN_S * AT * 1000
      await new Promise((resolve) => setTimeout(resolve, period / 2))
      const from = Date.now()
      await new Promise((resolve) => setTimeout(resolve, PERIODS * period))
      const times = kc.requests.filter((r) => r.method === 'POST' && r.time >= from).map((r) => r.time)
      const grouped = rounds(times, period)
      return {
        replicas: n,
        cache: redis !== undefined,
        coldStart,
        window: times.length,
        rounds: grouped.length,
        perRound: times.length / Math.max(1, grouped.length),
        maxRound: Math.max(0, ...grouped),
        startS,
      }
    } finally {
      await stop()
    }
  } finally {
    await kc.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const missing = redisUnavailable()
if (missing !== undefined) throw new Error(missing)
const redis = await startRedis()
const rows: Row[] = []
try {
  for (const n of COUNTS) {
    for (const cache of [false, true]) {
      await redis.admin.flushall()
      const row = await measure(n, cache ? redis : undefined)
      rows.push(row)
      console.error(`${n} replicas, ${cache ? 'with' : 'without'} the cache: ${row.coldStart} at start, ` +
        `${row.window} in ${row.rounds} refresh rounds (all ready in ${row.startS.toFixed(1)} s)`)
    }
  }
} finally {
  await redis.close()
}
console.log(`\n${LIFESPAN_S} s tokens refreshed at ${AT} ± 0.05 of their lifetime (a period of about ${(LIFESPAN_S * AT).toFixed(1)} s), ` +
  `${(PERIODS * LIFESPAN_S * AT).toFixed(1)} s (${PERIODS} periods) counted per run:\n`)
console.log('| replicas | cache | token requests at start | token requests in the window | per period | ' +
  'refreshes seen (requests per refresh) |')
console.log('|---:|---|---:|---:|---:|---:|')
for (const r of rows) {
  // Without the cache the replicas' refreshes spread over the period and run together: no refresh to tell apart.
  const refreshes = r.cache ? `${r.rounds} (${r.perRound.toFixed(2)}, at most ${r.maxRound})` : '—'
  const cache = r.cache ? 'Redis' : 'none'
  console.log(`| ${r.replicas} | ${cache} | ${r.coldStart} | ${r.window} | ${(r.window / PERIODS).toFixed(2)} | ${refreshes} |`)
}
