// What Redis holds: no token, secret or password in any key or value; a value that does not decrypt is a miss, logged once.
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startRegards } from '../peers/regards-emulator.js'
import { redisForTest } from '../peers/redis-server.js'
import { startUpstream } from '../peers/upstream.js'
import { startWallet } from '../peers/waltid-emulator.js'
import { cacheBlock, newCacheKey } from '../helpers/cache.js'
import { sensitiveStrings } from '../helpers/leak-registry.js'
import { describeHits, scanTexts } from '../helpers/leak-scan.js'
import { startSidecar, type Running } from '../helpers/sidecar.js'

const redis = await redisForTest(t)
if (redis !== undefined) {
  const kc = await startKeycloak({
    clients: { 'test-ext': { secret: 'kc-client-S3cret' } },
    users: { alice: { password: 'alice-Passw0rd' } },
  })
  t.teardown(() => kc.close())
  const regards = await startRegards()
  t.teardown(() => regards.close())
  const wallet = await startWallet()
  t.teardown(() => wallet.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const registry = { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 'kc-client-S3cret' }

  async function get (running: Running, path: string): Promise<{ status: number, authorization?: string }> {
    const res = await request(`${running.url}${path}`)
    const body = await res.body.text()
    try {
      return { status: res.statusCode, authorization: (JSON.parse(body) as { authorization?: string }).authorization }
    } catch {
      return { status: res.statusCode }
    }
  }

  t.test('every key and value in Redis, scanned for every token, secret and password', async (t) => {
    const running = await startSidecar(t, {
      credentials: {
        registry,
        user: { ...registry, grant: 'password', username: 'alice', password: 'alice-Passw0rd' },
        regards: { type: 'regards', url: regards.root, tenant: regards.tenant, username: 'user@regards.fr', password: 'regards-pass' },
        wallet: { type: 'waltid-wallet', url: wallet.root, username: 'user', password: 'wallet-pass' },
      },
      upstreams: {
        a: { target: up.url, credential: 'registry', prefix: '/a' },
        b: { target: up.url, credential: 'user', prefix: '/b' },
        c: { target: up.url, credential: 'regards', prefix: '/c' },
        d: { target: up.url, credential: 'wallet', prefix: '/d' },
      },
      cache: cacheBlock(redis),
    })
    for (const p of ['/a/x', '/b/x', '/c/x', '/d/x']) t.equal((await get(running, p)).status, 200, p)
    const stored = await redis.dump()
    t.equal(stored.filter((e) => e.key.startsWith('tokenproxy:token:')).length, 4, 'four tokens cached')
    const sensitive = sensitiveStrings()
    const tokens = [...kc.issued, ...regards.issued, ...wallet.issued]
    t.ok(tokens.length >= 3 && tokens.every((tok) => sensitive.some((s) => s.value === tok)), 'the scan looks for every issued token')
    for (const secret of ['kc-client-S3cret', 'alice-Passw0rd', 'regards-pass', 'wallet-pass', redis.password]) {
      t.ok(sensitive.some((s) => s.value === secret), 'and every secret')
    }
    const texts = stored.flatMap((e) => [{ source: 'redis key', text: e.key }, { source: `redis value of ${e.key}`, text: e.value }])
    t.ok(scanTexts([{ source: 'self-check', text: `x${tokens[0]!}x` }], sensitive).length > 0, 'the scan finds a token where there is one')
    const hits = scanTexts(texts, sensitive)
    t.same(hits, [], describeHits(hits))
    // Neither the user nor the client appear by name: keys carry a SHA-256 of the cache identity.
    t.notOk(texts.some((x) => /alice|test-ext|user@|wallet/.test(x.text)), 'no client id or user name in keys or values')
  })

  t.test('a value written with another key, then one altered: a miss each, logged once, the token fetched again', async (t) => {
    const first = await startSidecar(t,
      { credentials: { registry }, upstreams: { a: { target: up.url, credential: 'registry', prefix: '/a' } }, cache: cacheBlock(redis) })
    const token = (await get(first, '/a/x')).authorization
    const before = kc.tokenRequests
    const other = await startSidecar(t, {
      credentials: { registry },
      upstreams: { a: { target: up.url, credential: 'registry', prefix: '/a' } },
      cache: cacheBlock(redis, { key: newCacheKey() }),
    }, { refetchLimit: { max: 10, windowMs: 1000 } })
    const mine = await get(other, '/a/x')
    t.equal(mine.status, 200)
    t.not(mine.authorization, token, 'another key: the cached token is not usable')
    t.equal(kc.tokenRequests - before, 1)
    t.equal(other.logs.find(/does not decrypt/).length, 1, 'logged once')

    // Alter one byte of the value that `other` wrote, and make `other` read it twice more (two upstream 401s).
    const key = (await redis.dump()).find((e) => e.key.startsWith('tokenproxy:token:'))!
    for (let round = 0; round < 2; round++) {
      const stored = (await redis.dump()).find((e) => e.key === key.key)!.value
      const raw = Buffer.from(stored, 'base64')
      raw[raw.length - 20]! ^= 1
      await redis.admin.set(key.key, raw.toString('base64'), 'PX', 60_000)
      up.setMode({ kind: 'reject', tokens: new Set([(await get(other, '/a/which')).authorization!.slice('Bearer '.length)]), times: 1 })
      t.equal((await get(other, '/a/after')).status, 200)
    }
    up.setMode({ kind: 'echo' })
    t.equal(kc.tokenRequests - before, 3, 'each altered value: a miss, and a token request')
    t.equal(other.logs.find(/does not decrypt/).length, 1, 'still logged once')
    t.ok(other.logs.find(/does not decrypt/).every((l) => l.credential === 'registry'), 'naming the credential')
  })
}
