// client_credentials against a real Keycloak: client_secret_post, and client_secret_basic with a secret that needs form-encoding.
import t from 'tap'
import { decodeJwt } from 'jose'
import { request } from 'undici'
import { bearerSeen, confidentialClient, realKeycloak, realmName } from '../peers/keycloak-server.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

/** RFC 6749 §2.3.1: these survive Basic only when form-encoded before base64. */
const AWKWARD = 'p+a&b%c:d/e f'

const kc = await realKeycloak(t)
if (kc) {
  t.test('client_secret_post and client_secret_basic (a secret with + & % : / and a space)', async (t) => {
    const realm = await kc.admin.createRealm(t, {
      realm: realmName('client-auth'),
      clients: [confidentialClient('post-client', 'plain-secret-1'), confidentialClient('basic-client', 'to-be-replaced')],
    })
    // Set through the admin API, as an operator would.
    await kc.admin.updateClient(realm, 'basic-client', { secret: AWKWARD })
    const up = await startUpstream()
    t.teardown(() => up.close())
    const base = { type: 'keycloak', url: kc.root, realm }
    const { url, admin } = await startSidecar(t, {
      credentials: {
        post: { ...base, clientId: 'post-client', clientSecret: 'plain-secret-1', clientAuth: 'client_secret_post' },
        basic: { ...base, clientId: 'basic-client', clientSecret: AWKWARD, clientAuth: 'client_secret_basic' },
        'basic-raw-wrong': {
          ...base,
          clientId: 'basic-client',
          clientSecret: AWKWARD.replace(' ', '+'),
          clientAuth: 'client_secret_basic',
        },
      },
      upstreams: {
        post: { target: up.url, credential: 'post', prefix: '/post' },
        basic: { target: up.url, credential: 'basic', prefix: '/basic' },
      },
    })
    await until(async () => (await request(`${admin}/readyz`)).statusCode === 200, 20_000, 'both credentials to hold a token')
    for (const [prefix, clientId] of [['/post', 'post-client'], ['/basic', 'basic-client']] as const) {
      const res = await request(`${url}${prefix}/x`)
      t.equal(res.statusCode, 200, `${prefix}: proxied with a token`)
      await res.body.dump()
      const claims = decodeJwt(bearerSeen(up.requests.at(-1)!.headers.authorization))
      t.equal(claims.azp, clientId, `${prefix}: Keycloak authenticated ${clientId}`)
      t.equal(claims.client_id, clientId, 'a service-account token')
    }
    // Control: a secret that differs only where form-encoding matters is refused, so the check above is not vacuous.
    const readyz = await (await request(`${admin}/readyz`)).body.json() as {
      credentials: Record<string, { state: string, lastError: { error?: string } | null }>
    }
    t.equal(readyz.credentials['basic-raw-wrong']!.lastError?.error, 'unauthorized_client', 'a near-miss secret is rejected')
  })
}
