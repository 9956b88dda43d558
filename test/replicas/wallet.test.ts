// 8 replicas of one wallet user through the cache: one login at start, one re-login after a 401 burst on every replica.
import t from 'tap'
import { redisForTest } from '../peers/redis-server.js'
import { startWallet } from '../peers/waltid-emulator.js'
import { cacheBlock } from '../helpers/cache.js'
import { allReady, proxied, startReplicas } from '../helpers/replicas.js'

const REPLICAS = 8
const PROTECTED = '/wallet-api/wallet/accounts/wallets'

const redis = await redisForTest(t)
if (redis !== undefined) {
  t.test(`${REPLICAS} replicas log in to the wallet once, and re-log in once after 401s on every replica`, async (t) => {
    const wallet = await startWallet()
    t.teardown(() => wallet.close())
    const replicas = await startReplicas(t, REPLICAS, {
      credentials: { wallet: { type: 'waltid-wallet', url: wallet.root, username: 'user', password: 'wallet-pass' } },
      upstreams: { wallet: { target: wallet.root, credential: 'wallet', prefix: '/wallet' } },
      cache: cacheBlock(redis),
    })
    await allReady(replicas)
    const first = await Promise.all(replicas.map(async (r) => await proxied(r, `/wallet${PROTECTED}`)))
    t.same(first.map((a) => a.status), first.map(() => 200))
    t.equal(wallet.loginRequests, 1, `one login for ${REPLICAS} replicas`)

    // The wallet now refuses that session token: a burst of requests on every replica at once.
    wallet.rejectTokens(new Set([wallet.issued[0]!]))
    const burst = await Promise.all(replicas.flatMap((r) => Array.from({ length: 5 }, async () => await proxied(r, `/wallet${PROTECTED}`))))
    t.same(burst.map((a) => a.status), burst.map(() => 200), 'every request replayed with the new session token')
    t.equal(wallet.loginRequests, 2, 'one re-login for the whole burst on every replica')
    t.ok(wallet.protectedRequests.filter((p) => p.status === 200).slice(-burst.length)
      .every((p) => p.authorization === `Bearer ${wallet.issued[1]}`), 'all with the second session token')
  })
}
