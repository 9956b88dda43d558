// `ca` on credentials and upstreams: PEM from { file } or { env }, read at start; a bad one is a config problem with its path.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { parseConfig } from '../../src/configuration.js'
import { configProblems } from '../helpers/config-problems.js'
import { selfSigned } from '../helpers/tls-peers.js'

function docWith (credentialCa: unknown, upstreamCa: unknown): string {
  return stringify({
    credentials: {
      registry: { type: 'keycloak', url: 'https://kc.example.org', realm: 'r', clientId: 'c', clientSecret: 's', ca: credentialCa },
      regards: { type: 'regards', url: 'https://regards.example.org', tenant: 'p', username: 'u', password: 'p', ca: credentialCa },
      wallet: { type: 'waltid-wallet', url: 'https://wallet.example.org', username: 'u', password: 'p', ca: credentialCa },
    },
    upstreams: { registry: { target: 'https://registry.example.org', credential: 'registry', prefix: '/registry', ca: upstreamCa } },
  })
}

const problems = configProblems

t.test('a valid CA file or variable is read at start, for every credential type and for upstreams', async (t) => {
  const dir = t.testdir()
  const one = selfSigned(dir, 'one')
  const two = selfSigned(dir, 'two')
  const bundle = join(dir, 'bundle.pem')
  writeFileSync(bundle, `${one.cert}\n${two.cert}`)
  const cfg = parseConfig(docWith({ file: bundle }, { env: 'UPSTREAM_CA' }), { UPSTREAM_CA: two.cert })
  for (const name of ['registry', 'regards', 'wallet']) {
    t.equal(cfg.credentials[name]!.ca, `${one.cert}\n${two.cert.trimEnd()}`, `credentials.${name}.ca holds the bundle`)
  }
  t.equal(cfg.upstreams.registry!.ca, two.cert, 'upstreams.registry.ca from the environment')
  const none = parseConfig(docWith(undefined, undefined), {})
  t.equal(none.credentials.registry!.ca, undefined, 'no ca: the system CAs')
  t.equal(none.upstreams.registry!.ca, undefined)
  t.notOk('ca' in none.upstreams.registry!, 'not even as a key')
})

t.test('a bad CA is reported with its path, every problem at once', async (t) => {
  const dir = t.testdir()
  const missing = join(dir, 'missing.pem')
  const text = join(dir, 'not-pem.txt')
  writeFileSync(text, 'this is a path to a CA, not a CA\n')
  const corrupt = join(dir, 'corrupt.pem')
  writeFileSync(corrupt, `${selfSigned(dir).cert}-----BEGIN CERTIFICATE-----\nAAAAnotDER\n-----END CERTIFICATE-----\n`)
  const doc = stringify({
    credentials: {
      registry: { type: 'keycloak', url: 'https://kc.example.org', realm: 'r', clientId: 'c', clientSecret: 's', ca: { file: missing } },
      regards: { type: 'regards', url: 'https://regards.example.org', tenant: 'p', username: 'u', password: 'p', ca: { file: text } },
      wallet: { type: 'waltid-wallet', url: 'https://wallet.example.org', username: 'u', password: 'p', ca: '/etc/ssl/private-ca.pem' },
    },
    upstreams: {
      registry: { target: 'https://registry.example.org', credential: 'registry', prefix: '/registry', ca: { file: corrupt } },
      other: { target: 'https://other.example.org', credential: 'registry', prefix: '/other', ca: { env: 'NO_SUCH_CA' } },
    },
  })
  t.same(problems(doc).filter((p) => /\.ca: /.test(p)), [
    `credentials.registry.ca: file: cannot read ${missing} (ENOENT)`,
    `credentials.regards.ca: the CA from file ${text} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    'credentials.wallet.ca: must be { file: PATH } or { env: NAME } holding PEM certificates',
    `upstreams.registry.ca: the CA from file ${corrupt}: certificate 2 of 2 is not a valid X.509 certificate`,
    'upstreams.other.ca: env: variable NO_SUCH_CA is not set',
  ])
  t.same(problems(doc).filter((p) => !/\.ca: /.test(p)), [], 'nothing else is wrong')
})
