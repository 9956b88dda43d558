// REGARDS and wallet answers that are not tokens: non-JSON, 5xx, 429 — each a clear lastError with the right outcome.
import t from 'tap'
import { regardsCredential } from '../../src/credentials/regards.js'
import { waltidWalletCredential } from '../../src/credentials/waltid-wallet.js'
import { Secret } from '../../src/config/secrets.js'
import { TokenRequestError } from '../../src/credentials/token-error.js'
import { startRegards } from '../peers/regards-emulator.js'
import { startWallet } from '../peers/waltid-emulator.js'

const signal = (): AbortSignal => AbortSignal.timeout(3000)
const failure = async (p: Promise<unknown>): Promise<TokenRequestError> => {
  const err = await p.then(() => undefined, (e: unknown) => e)
  if (!(err instanceof TokenRequestError)) throw new Error(`expected a TokenRequestError, got ${String(err)}`)
  return err
}

t.test('REGARDS', async (t) => {
  const regards = await startRegards()
  t.teardown(() => regards.close())
  const cred = regardsCredential({
    type: 'regards',
    name: 'r',
    tokenUrl: regards.tokenUrl,
    timeout: 5,
    insecureHttp: false,
    tenant: 'project1',
    client: { id: 'client', secret: new Secret('secret') },
    username: 'user@regards.fr',
    password: new Secret('regards-pass'),
    format: 'json',
  })
  regards.setFault({ kind: 'garbage', times: 1 })
  t.match((await failure(cred.fetchToken(signal()))).info, { outcome: 'error', status: 200, error: 'bad_response' })
  regards.setFault({ kind: 'status', status: 503, body: '<html>maintenance</html>', times: 1 })
  const down = await failure(cred.fetchToken(signal()))
  t.match(down.info, { outcome: 'error', status: 503 })
  t.match(down.message, /REGARDS answered 503: a body that is not a JSON object \(text\/html\)/)
  regards.setFault({ kind: 'status', status: 500, body: '{"error":"Internal Server Error","message":"boom"}', times: 1 })
  t.match((await failure(cred.fetchToken(signal()))).info,
    { outcome: 'error', status: 500, error: 'Internal Server Error', description: 'boom' })
  t.match(await cred.fetchToken(signal()), { accessToken: /^eyJ/, expiresIn: 7199 }, 'and then a token again')
})

t.test('walt.id wallet', async (t) => {
  const wallet = await startWallet({ rateLimit: { max: 1, windowMs: 60_000 } })
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
      password: new Secret('wallet-pass'),
    },
    { tokenFor: async () => '' }
  )
  wallet.setFault({ kind: 'garbage', times: 1 })
  t.match((await failure(cred.fetchToken(signal()))).info, { outcome: 'error', status: 200, error: 'bad_response' })
  wallet.setFault({ kind: 'status', status: 502, body: '{"exception":true,"id":"BadGateway","message":"upstream down"}', times: 1 })
  t.match((await failure(cred.fetchToken(signal()))).info,
    { outcome: 'error', status: 502, error: 'BadGateway', description: 'upstream down' },
    'a 5xx that is not a refused login is an error, retried soon')
  t.match(await cred.fetchToken(signal()), { accessToken: /^eyJ/ }, 'first real login')
  t.match((await failure(cred.fetchToken(signal()))).info, { outcome: 'error', status: 429, error: 'rate_limited' },
    'the wallet\'s own 429 is an error, not a rejected credential')
})

t.test('chained wallet login fails clearly when the Keycloak credential has no token', async (t) => {
  const wallet = await startWallet()
  t.teardown(() => wallet.close())
  const cred = waltidWalletCredential(
    { type: 'waltid-wallet', name: 'w', url: wallet.root, tokenUrl: '', timeout: 5, insecureHttp: false, keycloak: 'kc' },
    { tokenFor: async () => { throw new Error('no usable access token for credential "kc"') } }
  )
  const err = await failure(cred.fetchToken(signal()))
  t.match(err.info, { outcome: 'error', error: 'keycloak_token_unavailable' })
  t.match(err.message, /keycloak credential "kc" has no token/)
  t.equal(wallet.loginRequests, 0, 'the wallet was not asked')
})
