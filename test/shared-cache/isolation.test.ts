// Two different clients or users never share a token through the cache; the same identity under another name does.
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { redisForTest } from '../peers/redis-server.js'
import { startUpstream } from '../peers/upstream.js'
import { cacheBlock } from '../helpers/cache.js'
import { startSidecar } from '../helpers/sidecar.js'

const redis = await redisForTest(t)
if (redis !== undefined) {
  const kc = await startKeycloak({
    clients: { a: { secret: 'secret-of-a' }, b: { secret: 'secret-of-b' }, web: { secret: 'secret-of-web' } },
    users: { alice: { password: 'alice-password' }, bob: { password: 'bob-password' } },
  })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())

  /** A sidecar whose one credential, named `name`, has `fields`; resolves the token its upstream saw. */
  async function tokenOf (name: string, fields: Record<string, unknown>): Promise<string> {
    const running = await startSidecar(t, {
      credentials: { [name]: { type: 'keycloak', url: kc.root, realm: kc.realm, ...fields } },
      upstreams: { api: { target: up.url, credential: name, prefix: '/api' } },
      cache: cacheBlock(redis!),
    })
    const res = await request(`${running.url}/api/x`)
    const body = await res.body.json() as { authorization: string }
    t.equal(res.statusCode, 200)
    return body.authorization
  }

  t.test('client a, client b, and client a again under another name', async (t) => {
    const a = await tokenOf('registry', { clientId: 'a', clientSecret: 'secret-of-a' })
    const b = await tokenOf('registry', { clientId: 'b', clientSecret: 'secret-of-b' })
    t.not(a, b, 'another client under the same name gets its own token')
    t.equal(kc.tokenRequests, 2)
    const again = await tokenOf('other-name', { clientId: 'a', clientSecret: 'secret-of-a' })
    t.equal(again, a, 'the same client under another name shares the token')
    t.equal(kc.tokenRequests, 2, 'and asks the identity service nothing')
  })

  t.test('password grant: two users of one client never share; another scope neither', async (t) => {
    const before = kc.tokenRequests
    const user = (username: string, password: string, scope?: string) => ({
      clientId: 'web', clientSecret: 'secret-of-web', grant: 'password', username, password, ...(scope === undefined ? {} : { scope }),
    })
    const alice = await tokenOf('user', user('alice', 'alice-password'))
    const bob = await tokenOf('user', user('bob', 'bob-password'))
    const aliceProfile = await tokenOf('user', user('alice', 'alice-password', 'profile'))
    t.equal(new Set([alice, bob, aliceProfile]).size, 3)
    t.equal(kc.tokenRequests - before, 3)
    t.equal(await tokenOf('user-again', user('alice', 'alice-password')), alice, 'alice again (another name): shared')
    t.equal(kc.tokenRequests - before, 3)
  })
}
