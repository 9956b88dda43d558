// The password grant against a real Keycloak: refresh with the refresh token, log in again when the SSO session ends or is revoked.
import t from 'tap'
import { decodeJwt } from 'jose'
import { request } from 'undici'
import { bearerSeen, confidentialClient, passwordUser, realKeycloak, realmName } from '../peers/keycloak-server.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const kc = await realKeycloak(t)
if (kc) {
  t.test('refresh within the session, a new login at its end and after a logout', async (t) => {
    // 6 s access tokens in a 12 s SSO session: refresh at ~4.8 s keeps the session; at ~9.6 s less
    // than tokenproxy's 5 s margin of refresh_expires_in is left, so it logs in again.
    const realm = await kc.admin.createRealm(t, {
      realm: realmName('password'),
      accessTokenLifespan: 6,
      ssoSessionIdleTimeout: 12,
      ssoSessionMaxLifespan: 12,
      clients: [confidentialClient('legacy-app', 'app-secret')],
      users: [passwordUser('alice', 'alice-password')],
    })
    const up = await startUpstream()
    t.teardown(() => up.close())
    const { url } = await startSidecar(t, {
      refresh: { minValidity: 1, jitter: 0 },
      credentials: {
        user: {
          type: 'keycloak',
          url: kc.root,
          realm,
          grant: 'password',
          clientId: 'legacy-app',
          clientSecret: 'app-secret',
          username: 'alice',
          password: 'alice-password',
        }
      },
      upstreams: { app: { target: up.url, credential: 'user', prefix: '/app' } },
    })
    const seen: Array<{ sid: string, jti: string, user: unknown }> = []
    const statuses = new Set<number>()
    const sample = async (): Promise<void> => {
      const res = await request(`${url}/app/x`)
      statuses.add(res.statusCode)
      await res.body.dump()
      if (res.statusCode !== 200) return
      const claims = decodeJwt(bearerSeen(up.requests.at(-1)!.headers.authorization))
      if (seen.at(-1)?.jti !== claims.jti) seen.push({ sid: String(claims.sid), jti: String(claims.jti), user: claims.preferred_username })
    }
    const sessions = (): string[] => [...new Set(seen.map((s) => s.sid))]
    await until(async () => { await sample(); return sessions().length >= 2 }, 20_000, 'a second session')
    const [first, second] = sessions()
    const inFirst = seen.filter((s) => s.sid === first)
    t.ok(inFirst.length >= 2, `the first session served ${inFirst.length} tokens: refreshed with the refresh token, not a new login`)
    t.not(second, first, 'a new login once the session was about to end')

    // An operator ends alice's sessions: the next refresh gets invalid_grant, and tokenproxy logs in again.
    const id = await kc.admin.userId(realm, 'alice')
    await kc.admin.call('POST', `/${realm}/users/${id}/logout`)
    await until(async () => { await sample(); return sessions().length >= 3 }, 20_000, 'a third session after the logout')
    t.equal(new Set(sessions()).size, 3, 'three distinct sessions')
    t.same([...statuses], [200], 'never a 503 while the sidecar changed sessions')
    t.same([...new Set(seen.map((s) => s.user))], ['alice'], 'every token is alice\'s')
    t.ok((await kc.admin.userSessions(realm, 'alice')).length <= 1, 'tokenproxy leaves at most one live session behind')
  })
}
