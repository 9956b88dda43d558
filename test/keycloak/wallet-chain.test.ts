// The wallet chain (`keycloak: NAME`) with a real Keycloak: our walt.id emulator verifies the user token against Keycloak's JWKS and iss.
import t from 'tap'
import { decodeJwt } from 'jose'
import { request } from 'undici'
import { confidentialClient, passwordUser, realKeycloak, realmName, tokenSeen } from '../peers/keycloak-server.js'
import { startWallet } from '../peers/waltid-emulator.js'
import { startSidecar } from '../helpers/sidecar.js'

const PROTECTED = '/wallet-api/wallet/accounts/wallets'

const kc = await realKeycloak(t)
if (kc) {
  t.test('the Keycloak user token logs in to the wallet, which checks it against the real JWKS and issuer', async (t) => {
    const realm = await kc.admin.createRealm(t, {
      realm: realmName('wallet'),
      clients: [confidentialClient('waltid_backend', 'wallet-client-secret')],
      users: [passwordUser('holder', 'holder-password')],
    })
    const urls = kc.realm(realm)
    const wallet = await startWallet({ keycloak: { issuer: urls.issuer, jwksUrl: urls.jwksUrl } })
    t.teardown(() => wallet.close())
    // A wallet that trusts another realm's issuer must refuse the same token: the check is real.
    const other = await startWallet({ keycloak: { issuer: kc.realm('master').issuer, jwksUrl: urls.jwksUrl } })
    t.teardown(() => other.close())
    const user = {
      type: 'keycloak',
      url: kc.root,
      realm,
      grant: 'password',
      clientId: 'waltid_backend',
      clientSecret: 'wallet-client-secret',
      username: 'holder',
      password: 'holder-password',
    }
    const { url } = await startSidecar(t, {
      credentials: {
        'wallet-user': user,
        wallet: { type: 'waltid-wallet', url: wallet.root, keycloak: 'wallet-user' },
        'wrong-issuer': { type: 'waltid-wallet', url: other.root, keycloak: 'wallet-user' },
      },
      upstreams: {
        wallet: { target: wallet.root, credential: 'wallet', prefix: '/wallet' },
        other: { target: other.root, credential: 'wrong-issuer', prefix: '/other' },
      },
    })
    const res = await request(`${url}/wallet${PROTECTED}`)
    t.equal(res.statusCode, 200, 'the wallet route answers with the session token injected')
    await res.body.dump()
    const login = JSON.parse(wallet.requests.find((r) => r.method === 'POST')!.body) as Record<string, string>
    t.equal(login.type, 'keycloak')
    t.equal(login.password, undefined, 'no password goes to the wallet')
    const claims = decodeJwt(tokenSeen(login.token!))
    t.equal(claims.iss, urls.issuer, 'the token is the real Keycloak\'s')
    t.equal(claims.preferred_username, 'holder')
    t.same(wallet.logins.map((l) => [l.kind, l.ok]), [['token', true]], 'one login, accepted after verification')
    t.equal(wallet.protectedRequests.at(-1)?.status, 200)

    const refused = await request(`${url}/other${PROTECTED}`)
    t.equal(refused.statusCode, 503, 'a wallet expecting another issuer refuses the login')
    t.match(await refused.body.json(), { code: 'TOKEN_UNAVAILABLE', credential: 'wrong-issuer' })
    t.ok(other.logins.length >= 1 && other.logins.every((l) => !l.ok), 'its logins failed')
  })
}
