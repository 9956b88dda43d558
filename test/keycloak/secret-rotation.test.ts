// The client secret regenerated in a real Keycloak while tokenproxy runs: the `{ file }` secret is rewritten, a new token arrives, no 503.
import t from 'tap'
import { decodeJwt } from 'jose'
import { request } from 'undici'
import { bearerSeen, confidentialClient, realKeycloak, realmName } from '../peers/keycloak-server.js'
import { startUpstream } from '../peers/upstream.js'
import { SecretVolume } from '../helpers/secret-volume.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const kc = await realKeycloak(t)
if (kc) {
  t.test('regenerate in Keycloak, rewrite the Secret volume, new token without restart', async (t) => {
    const realm = await kc.admin.createRealm(t, { realm: realmName('rotation'), clients: [confidentialClient('rotated', 'unused')] })
    // The first secret as Keycloak made it, not as the realm was created.
    const first = await kc.admin.regenerateSecret(realm, 'rotated')
    const vol = new SecretVolume(t.testdir(), `${first}\n`)
    const up = await startUpstream()
    t.teardown(() => up.close())
    const { url, sidecar } = await startSidecar(t, {
      credentials: { registry: { type: 'keycloak', url: kc.root, realm, clientId: 'rotated', clientSecret: { file: vol.file } } },
      upstreams: { api: { target: up.url, credential: 'registry', prefix: '/api' } },
    }, { secretPollMs: 200 })
    await until(() => sidecar.tokens.usable('registry') !== undefined, 20_000, 'the first token')

    // Requests flow the whole time; every one must be answered by the upstream.
    const statuses: number[] = []
    const jtis = new Set<string>()
    let flowing = true
    const flow = (async () => {
      // eslint-disable-next-line no-unmodified-loop-condition -- the test sets `flowing` to false when it is done
      while (flowing) {
        const res = await request(`${url}/api/start-bp`)
        statuses.push(res.statusCode)
        await res.body.dump()
        if (res.statusCode === 200) jtis.add(String(decodeJwt(bearerSeen(up.requests.at(-1)!.headers.authorization)).jti))
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    })()
    await until(() => jtis.size === 1 && statuses.length >= 5, 10_000, 'requests with the first token')
    const oldJti = [...jtis][0]

    const second = await kc.admin.regenerateSecret(realm, 'rotated')
    t.not(second, first, 'Keycloak made a new secret')
    // The old secret is dead now; the token it got is still valid, and keeps serving.
    await new Promise((resolve) => setTimeout(resolve, 500))
    t.same([...jtis], [oldJti], 'the old token keeps serving until the file changes')

    vol.rotate(`${second}\n`)
    await until(() => jtis.size >= 2, 15_000, 'a token obtained with the new secret')
    flowing = false
    await flow
    t.ok(statuses.length >= 10, `${statuses.length} requests during the rotation`)
    t.same([...new Set(statuses)], [200], 'not one 503 (or anything else) during the rotation')
    const readyz = await (await request(`${sidecar.addresses.admin}/readyz`)).body.json() as {
      credentials: { registry: { state: string, lastError: unknown } }
    }
    t.equal(readyz.credentials.registry.state, 'valid')
  })
}
