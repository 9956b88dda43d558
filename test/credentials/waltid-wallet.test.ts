// walt.id wallet: Keycloak login (password or a chained Keycloak token), session JWT injected, one re-login per 401 burst.
import t from 'tap'
import { request } from 'undici'
import { waltidWalletCredential } from '../../src/credentials/waltid-wallet.js'
import { Secret } from '../../src/config/secrets.js'
import { TokenRequestError } from '../../src/credentials/token-error.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startWallet } from '../peers/waltid-emulator.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const PROTECTED = '/wallet-api/wallet/accounts/wallets'

t.test('password login: the session token is the Bearer; its exp sets the lifetime', async (t) => {
  const wallet = await startWallet({ tokenLifetimeSeconds: 3 })
  t.teardown(() => wallet.close())
  const { url, sidecar } = await startSidecar(t, {
    refresh: { at: 0.5, jitter: 0, minValidity: 0.5 },
    credentials: { wallet: { type: 'waltid-wallet', url: wallet.root, username: 'user', password: 'wallet-pass' } },
    upstreams: { wallet: { target: wallet.root, credential: 'wallet', prefix: '/wallet' } },
  })
  const res = await request(`${url}/wallet${PROTECTED}`)
  t.equal(res.statusCode, 200)
  await res.body.text()
  const login = wallet.requests.find((r) => r.method === 'POST')!
  t.equal(login.url, '/wallet-api/auth/keycloak/login')
  t.same(JSON.parse(login.body), { type: 'keycloak', username: 'user', password: 'wallet-pass' })
  t.equal(wallet.protectedRequests[0]!.authorization, `Bearer ${wallet.issued[0]}`)
  await until(() => wallet.loginRequests >= 2, 4000, 'a login before the 3 s session expires')
  t.ok(sidecar.tokens.usable('wallet'), 'still holding a usable session token')
})

t.test('chained: logs in with another credential\'s Keycloak access token', async (t) => {
  const kc = await startKeycloak({ clients: { 'wallet-client': { secret: 'wc-secret' } }, users: { alice: { password: 'alice-pass' } } })
  t.teardown(() => kc.close())
  const wallet = await startWallet({ keycloak: { issuer: kc.issuer, jwksUrl: kc.jwksUrl } })
  t.teardown(() => wallet.close())
  const { url } = await startSidecar(t, {
    credentials: {
      'wallet-user': {
        type: 'keycloak',
        url: kc.root,
        realm: kc.realm,
        grant: 'password',
        clientId: 'wallet-client',
        clientSecret: 'wc-secret',
        username: 'alice',
        password: 'alice-pass',
      },
      wallet: { type: 'waltid-wallet', url: wallet.root, keycloak: 'wallet-user' },
    },
    upstreams: { wallet: { target: wallet.root, credential: 'wallet', prefix: '/wallet' } },
  })
  const res = await request(`${url}/wallet${PROTECTED}`)
  t.equal(res.statusCode, 200)
  await res.body.text()
  const body = JSON.parse(wallet.requests.find((r) => r.method === 'POST')!.body) as Record<string, string>
  t.equal(body.type, 'keycloak')
  t.equal(body.password, undefined, 'no password: the Keycloak token logs in')
  t.ok(kc.issued.includes(body.token!), 'the token is the Keycloak access token')
  t.same(wallet.logins.map((l) => [l.kind, l.ok]), [['token', true]])
})

t.test('a burst of 20 concurrent 401s causes exactly one re-login', async (t) => {
  const wallet = await startWallet()
  t.teardown(() => wallet.close())
  const { url } = await startSidecar(t, {
    credentials: { wallet: { type: 'waltid-wallet', url: wallet.root, username: 'user', password: 'wallet-pass' } },
    upstreams: { wallet: { target: wallet.root, credential: 'wallet', prefix: '/wallet' } },
  })
  const warm = await request(`${url}/wallet${PROTECTED}`)
  await warm.body.text()
  t.equal(wallet.loginRequests, 1)
  wallet.rejectTokens(new Set([wallet.issued[0]!]))
  const results = await Promise.all(Array.from({ length: 20 }, async () => {
    const res = await request(`${url}/wallet${PROTECTED}`)
    await res.body.text()
    return res.statusCode
  }))
  t.same(results, Array(20).fill(200), 'every request replayed with the new session token')
  t.equal(wallet.loginRequests, 2, 'one re-login for the whole burst')
})

t.test('a wrong password: 503 with the wallet\'s error, no secret anywhere, logins stay under the rate limit', async (t) => {
  const wallet = await startWallet()
  t.teardown(() => wallet.close())
  const { url, logs, admin } = await startSidecar(t, {
    credentials: { wallet: { type: 'waltid-wallet', url: wallet.root, username: 'user', password: 'bad-wallet-pw' } },
    upstreams: { wallet: { target: wallet.root, credential: 'wallet', prefix: '/wallet' } },
  })
  await until(() => wallet.loginRequests >= 1, 2000, 'the first login')
  const res = await request(`${url}/wallet${PROTECTED}`)
  const text = await res.body.text()
  t.equal(res.statusCode, 503)
  const problem = JSON.parse(text) as Record<string, unknown>
  t.equal(problem.code, 'TOKEN_UNAVAILABLE')
  t.equal(problem.error, 'login_failed')
  t.match(problem.error_description, /Keycloak returned error code: 401/)
  const ready = await (await request(`${admin}/readyz`)).body.text()
  t.notMatch(text + logs.text + ready, /bad-wallet-pw/)
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.ok(wallet.loginRequests <= 3, `rejected logins retried at the slow end (${wallet.loginRequests} in ~1.5 s)`)
  t.equal(wallet.logins.filter((l) => l.status === 429).length, 0, 'never rate limited by the wallet')
})

t.test('the client-side login limit refuses to log in before the wallet would answer 429', async (t) => {
  const wallet = await startWallet()
  t.teardown(() => wallet.close())
  const cred = waltidWalletCredential(
    {
      type: 'waltid-wallet',
      name: 'w',
      url: wallet.root,
      tokenUrl: '',
      timeout: 5,
      insecureHttp: false,
      username: 'user',
      password: new Secret('wrong'),
    },
    { tokenFor: async () => { throw new Error('unused') } },
    { max: 3, windowMs: 60_000 }
  )
  for (let i = 0; i < 3; i++) {
    const failed = await cred.fetchToken(AbortSignal.timeout(2000)).then(() => undefined, (e: unknown) => e)
    t.match(failed, { info: { error: 'login_failed', outcome: 'rejected' } }, `login ${i + 1} refused by the wallet`)
  }
  const err = await cred.fetchToken(AbortSignal.timeout(2000)).catch((e: unknown) => e)
  t.type(err, TokenRequestError)
  t.equal((err as TokenRequestError).info.error, 'login_rate_limited')
  t.equal(wallet.loginRequests, 3, 'the fourth attempt never reached the wallet')
})

t.test('best-effort logout on shutdown', async (t) => {
  const wallet = await startWallet()
  t.teardown(() => wallet.close())
  const { sidecar } = await startSidecar(t, {
    credentials: { wallet: { type: 'waltid-wallet', url: wallet.root, username: 'user', password: 'wallet-pass' } },
    upstreams: { wallet: { target: wallet.root, credential: 'wallet', prefix: '/wallet' } },
  })
  await until(() => sidecar.tokens.usable('wallet') !== undefined, 2000, 'a session')
  await sidecar.close(1000)
  t.equal(wallet.logouts.length, 1)
  t.equal(wallet.logouts[0]!.token, wallet.issued[0])
  t.ok(wallet.logouts[0]!.keycloakUserId, 'keycloakUserId sent')
})

t.test('a 30-day session is not refreshed early (refresh delay beyond Node\'s 24.8-day timer limit)', async (t) => {
  const wallet = await startWallet({ tokenLifetimeSeconds: 30 * 24 * 3600 })
  t.teardown(() => wallet.close())
  const { sidecar } = await startSidecar(t, {
    credentials: { wallet: { type: 'waltid-wallet', url: wallet.root, username: 'user', password: 'wallet-pass' } },
    upstreams: { wallet: { target: wallet.root, credential: 'wallet', prefix: '/wallet' } },
  }, { random: () => 1 })
  await until(() => sidecar.tokens.usable('wallet') !== undefined, 2000, 'a session')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(wallet.loginRequests, 1, 'one login: the refresh is ~25.5 days away, not now')
})
