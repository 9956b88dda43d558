// An identity service that echoes the request into its error fields: no secret the request carried, in any
// encoding, reaches lastError, the log or a 503 body; the echo itself still does, redacted.
import { generateKeyPair, exportPKCS8 } from 'jose'
import t from 'tap'
import { request } from 'undici'
import { echoEverything, startRawIdp, type RawHandler } from '../helpers/raw-idp.js'
import { scanSidecar } from '../helpers/leak-scan.js'
import { startSidecar, until } from '../helpers/sidecar.js'
import { signJwt } from '../helpers/scripted-idp.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'

/** Secrets with every character that encodes differently in a form, a URL, JSON and Basic. */
const SECRET = 'Echo+S3cret/&%:"é x'
const PASSWORD = 'pw P@ss+word/%41\\'

/** First a token with a refresh token (a secret of the next request), then the echo for every request after. */
function refreshThenEcho (): RawHandler {
  const echo = echoEverything(401)
  let n = 0
  return (req, res, body) => {
    if (++n > 1) return echo(req, res, body)
    void signJwt({ sub: 'u', exp: Math.floor(Date.now() / 1000) + 3600 }).then((token) => {
      const text = JSON.stringify({
        access_token: token,
        expires_in: 3,
        refresh_token: `refresh-${'R'.repeat(24)}+/=`,
        refresh_expires_in: 1800,
        token_type: 'Bearer',
      })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
    })
  }
}

t.test('every secret of the request is redacted from an echoing identity service\'s answer', async (t) => {
  const kcEcho = await startRawIdp(echoEverything(401))
  const regardsEcho = await startRawIdp(echoEverything(400))
  const walletEcho = await startRawIdp(echoEverything(500))
  const refreshing = await startRawIdp(refreshThenEcho())
  const kc = await startKeycloak({ clients: { chain: { secret: 'chain-S3cret-value' } } })
  t.teardown(async () => { await Promise.all([kcEcho.close(), regardsEcho.close(), walletEcho.close(), refreshing.close(), kc.close()]) })
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const kcBase = { type: 'keycloak', tokenUrl: kcEcho.tokenUrl }
  const credentials = {
    post: { ...kcBase, clientId: 'echo-post', clientSecret: `post-${SECRET}` },
    basic: { ...kcBase, clientId: 'echo-basic', clientSecret: `basic-${SECRET}`, clientAuth: 'client_secret_basic' },
    signed: { ...kcBase, clientId: 'echo-signed', clientAuth: 'private_key_jwt', privateKey: await exportPKCS8(privateKey) },
    password: {
      ...kcBase,
      clientId: 'echo-pw',
      clientSecret: `pwclient-${SECRET}`,
      grant: 'password',
      username: 'alice',
      password: `kc-${PASSWORD}`,
    },
    refresh: {
      type: 'keycloak',
      tokenUrl: refreshing.tokenUrl,
      clientId: 'echo-refresh',
      grant: 'password',
      username: 'bob',
      password: `refresh-${PASSWORD}`,
    },
    regards: {
      type: 'regards',
      url: regardsEcho.url,
      tenant: 'project1',
      client: { id: 'echo-client', secret: `regards-${SECRET}` },
      username: 'u@x',
      password: `regards-${PASSWORD}`,
    },
    wallet: { type: 'waltid-wallet', url: walletEcho.url, username: 'carol', password: `wallet-${PASSWORD}` },
    chain: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'chain', clientSecret: 'chain-S3cret-value' },
    chained: { type: 'waltid-wallet', url: walletEcho.url, keycloak: 'chain' },
  }
  const names = Object.keys(credentials).filter((n) => n !== 'chain')
  const upstreams = Object.fromEntries(names.map((n) => [n, { target: 'http://127.0.0.1:9', credential: n, prefix: `/${n}` }]))
  const running = await startSidecar(t, { refresh: { minValidity: 1 }, credentials, upstreams })
  const failed = (n: string): boolean => {
    const e = running.sidecar.tokens.status()[n]!.lastError
    // The refreshing credential's first token must also have run out, so that its upstream answers 503 too.
    return e !== null && e.status !== undefined && running.sidecar.tokens.usable(n) === undefined
  }
  await until(() => names.every(failed), 10_000, 'every credential to have been refused by its echoing identity service')
  t.ok(kcEcho.requests.some((r) => r.body.includes('client_assertion=')), 'the signed credential sent its assertion')
  t.ok(refreshing.requests.some((r) => r.body.includes('grant_type=refresh_token')), 'the refresh token was sent')
  t.ok(walletEcho.requests.some((r) => r.body.includes('"token":"ey')), 'the chained wallet login sent the Keycloak token')

  const bodies: string[] = []
  for (const n of names) {
    const res = await request(`${running.url}/${n}/x`)
    const text = await res.body.text()
    bodies.push(text)
    t.equal(res.statusCode, 503, `${n}: 503`)
  }
  const status = running.sidecar.tokens.status()
  t.match(status.post!.lastError!.description, /request .*client_secret=\[redacted\]/,
    'the echo still reaches lastError, with the secret redacted')
  t.match(status.basic!.lastError!.description, /basic \[redacted\]/, 'the Basic header value too')
  t.match(JSON.parse(bodies[0]!), { code: 'TOKEN_UNAVAILABLE', error: /^unauthorized_client /, error_description: /\[redacted\]/ },
    'and the 503 body')

  const { hits, sensitive, sources } = await scanSidecar(running)
  t.same(hits, [], `no secret, assertion or token in ${sources.length} sources (${sensitive} sensitive strings looked for)`)
  t.comment(`echoing identity services: ${names.length} credentials refused, ${sensitive} sensitive strings looked for, ` +
    `${hits.length} found`)
})
