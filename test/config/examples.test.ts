// The shipped example configs are valid, and `check` summarises each credential type without its secrets.
import { readdirSync } from 'node:fs'
import t from 'tap'
import { cli } from '../../src/cli.js'
import { loadConfig } from '../../src/configuration.js'

const ENV = {
  REGISTRY_CLIENT_SECRET: 'reg-secret-value', REGARDS_PASSWORD: 'regards-pass-value', WALLET_PASSWORD: 'wallet-pass-value',
}

async function check (file: string, env: NodeJS.ProcessEnv): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await cli(['check', '--config', file], { out: (s) => { out += `${s}\n` }, err: (s) => { err += `${s}\n` }, env })
  return { code, out, err }
}

t.test('every config/*.yaml is valid and its summary carries no secret', async (t) => {
  const files = readdirSync('config').filter((f) => f.endsWith('.yaml'))
  t.ok(files.length >= 3, `examples: ${files.join(', ')}`)
  for (const f of files) {
    const r = await check(`config/${f}`, ENV)
    t.equal(r.code, 0, `${f}: valid`)
    for (const secret of Object.values(ENV)) t.notMatch(r.out, secret, `${f}: no secret in the summary`)
  }
})

t.test('each seed maps to the token URL its service really uses', async (t) => {
  const regards = loadConfig('config/regards.yaml', ENV)
  t.equal(regards.credentials.regards!.tokenUrl, 'https://regards.example.org/api/v1/rs-authentication/oauth/token')
  const wallet = loadConfig('config/wallet.yaml', ENV)
  t.equal(wallet.credentials.wallet!.tokenUrl, 'https://wallet.example.org/wallet-api/auth/keycloak/login')
  const registry = loadConfig('config/registry.yaml', ENV)
  t.equal(registry.credentials.registry!.tokenUrl,
    'https://keycloak.example.org/auth/realms/consent-01-external-system/protocol/openid-connect/token')
})

t.test('the summary describes regards and wallet credentials (password and chained)', async (t) => {
  const { writeFileSync } = await import('node:fs')
  const file = `${process.env.TMPDIR ?? '/tmp'}/tokenproxy-check-${process.pid}.yaml`
  writeFileSync(file, JSON.stringify({
    credentials: {
      regards: {
        type: 'regards',
        url: 'https://r.example',
        tenant: 'p1',
        username: 'u@r',
        password: { env: 'REGARDS_PASSWORD' },
        format: 'form',
      },
      kc: { type: 'keycloak', url: 'https://kc.example', realm: 'w', grant: 'password', clientId: 'c', username: 'alice', password: 'p' },
      wallet: { type: 'waltid-wallet', url: 'https://w.example', keycloak: 'kc' },
      wallet2: { type: 'waltid-wallet', url: 'https://w.example', username: 'bob', password: { env: 'WALLET_PASSWORD' } },
    },
    upstreams: {
      r: { target: 'https://r.example', credential: 'regards', prefix: '/r' },
      w: { target: 'https://w.example', credential: 'wallet', prefix: '/w' },
      w2: { target: 'https://w.example', credential: 'wallet2', port: 8090 },
    },
  }))
  const r = await check(file, ENV)
  t.equal(r.code, 0, r.err)
  t.match(r.out,
    // eslint-disable-next-line @stylistic/max-len -- a regular expression literal does not wrap
    /regards: regards password grant \(form body\), tenant p1, client client \(secret inline\), user u@r \(password from env REGARDS_PASSWORD\)/)
  t.match(r.out, /kc: keycloak password, client c \(client_secret_post, secret none\), user alice \(password inline\)/)
  t.match(r.out, /wallet: waltid-wallet keycloak login, with the token of credential kc/)
  t.match(r.out, /wallet2: waltid-wallet keycloak login, user bob \(password from env WALLET_PASSWORD\)/)
  t.match(r.out, /w2: port 8090 -> https:\/\/w\.example/)
  t.notMatch(r.out, /wallet-pass-value|regards-pass-value/)
})

t.test('a wallet may only chain to a defined keycloak credential', async (t) => {
  const { writeFileSync } = await import('node:fs')
  const file = `${process.env.TMPDIR ?? '/tmp'}/tokenproxy-chain-${process.pid}.yaml`
  writeFileSync(file, JSON.stringify({
    credentials: {
      r: { type: 'regards', url: 'https://r.example', tenant: 'p1', username: 'u', password: 'x' },
      w1: { type: 'waltid-wallet', url: 'https://w.example', keycloak: 'r' },
      w2: { type: 'waltid-wallet', url: 'https://w.example', keycloak: 'nope' },
      w3: { type: 'waltid-wallet', url: 'https://w.example', keycloak: 'r', password: 'x' },
      w4: { type: 'waltid-wallet', url: 'https://w.example' },
    },
    upstreams: { u: { target: 'https://w.example', credential: 'w1', prefix: '/w' } },
  }))
  const r = await check(file, {})
  t.equal(r.code, 2)
  t.match(r.err, /credentials\.w1\.keycloak: "r" is a regards credential; the wallet logs in with a keycloak one/)
  t.match(r.err, /credentials\.w2\.keycloak: "nope" is not a defined credential \(defined: r, w1, w2, w3, w4\)/)
  t.match(r.err, /credentials\.w3: give either password or keycloak/)
  t.match(r.err, /credentials\.w4\.username: is required/)
  t.match(r.err, /credentials\.w4\.password: is required/)
})
