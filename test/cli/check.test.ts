// `tokenproxy check` and the CLI's usage paths: summary without secrets and exit 0, every problem and exit 2, --help, --version.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { cli } from '../../src/cli.js'

const INLINE = 'inline-S3cret-value'
const FROM_ENV = 'env-S3cret-value'
const FROM_FILE = 'file-S3cret-value'
const SECRETS = [INLINE, FROM_ENV, FROM_FILE]

const VALID = `
credentials:
  registry:
    type: keycloak
    url: https://keycloak.example.org/auth
    realm: consent-01-external-system
    clientId: test-ext
    clientSecret: ${INLINE}
    scope: profile email
  wallet:
    type: keycloak
    url: https://keycloak.example.org
    realm: wallet
    clientId: wallet-client
    clientSecret: { env: WALLET_SECRET }
    clientAuth: client_secret_basic
  spare:
    type: keycloak
    tokenUrl: https://idp.example.org/token
    clientId: spare
    clientSecret: { file: SECRET_FILE }
upstreams:
  registry: { target: https://registry.example.org/api, credential: registry, prefix: /registry }
  wallet: { target: https://wallet.example.org, credential: wallet, prefix: /wallet, port: 8181, timeout: 5 }
`

const INVALID = `
listen: { port: 99999 }
credentials:
  wallet: { type: keycloak, url: https://kc.example.org, realm: w, clientId: w, clientSecret: ${INLINE}, colour: red }
upstreams:
  wallet: { target: https://wallet.example.org, credential: walet, prefix: /wallet }
`

interface Run { code: number, out: string, err: string }

async function run (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out: string[] = []
  const err: string[] = []
  const code = await cli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** A valid and an invalid config file, and the environment the valid one needs. */
function fixtures (t: Test): { valid: string, invalid: string, env: NodeJS.ProcessEnv } {
  const dir = t.testdir({ 'client-secret': `${FROM_FILE}\n`, 'invalid.yaml': INVALID })
  const valid = join(dir, 'tokenproxy.yaml')
  writeFileSync(valid, VALID.replace('SECRET_FILE', join(dir, 'client-secret')))
  return { valid, invalid: join(dir, 'invalid.yaml'), env: { WALLET_SECRET: FROM_ENV } }
}

t.test('check --config FILE: exit 0 and a summary of credentials and upstreams without secret values', async (t) => {
  const { valid, env } = fixtures(t)
  const { code, out, err } = await run(['check', '--config', valid], env)
  t.equal(code, 0)
  t.equal(err, '')
  const lines = out.split('\n')
  t.equal(lines[0], `${valid}: configuration is valid`)
  t.ok(lines.length <= 24, `fits on one screen (${lines.length} lines)`)
  t.match(out, /^credentials:$/m)
  t.match(out, /^ {2}registry: keycloak client_credentials, client test-ext \(client_secret_post, secret inline\), scope "profile email"$/m)
  t.match(out, /https:\/\/keycloak\.example\.org\/auth\/realms\/consent-01-external-system\/protocol\/openid-connect\/token/)
  t.match(out, /^ {2}wallet: keycloak client_credentials, client wallet-client \(client_secret_basic, secret from env WALLET_SECRET\)$/m)
  t.match(out, /^ {2}spare: .*client spare \(client_secret_post, secret from file .*client-secret\)$/m)
  t.match(out, /^upstreams:$/m)
  t.match(out, /^ {2}registry: \/registry\/\* on listen -> https:\/\/registry\.example\.org\/api {2}\(credential registry, timeout 30s\)$/m)
  t.match(out, /^ {2}wallet: \/wallet\/\* on listen and port 8181 -> https:\/\/wallet\.example\.org {2}\(credential wallet, timeout 5s\)$/m)
  t.match(out, /^note: credentials not used by any upstream: spare$/m)
  t.match(out, /listen 127\.0\.0\.1:8080 {3}admin 127\.0\.0\.1:9901/)
  for (const s of SECRETS) t.notOk(out.includes(s) || err.includes(s), `${s} is not printed`)
})

t.test('TOKENPROXY_CONFIG stands in for --config', async (t) => {
  const { valid, env } = fixtures(t)
  const { code, out } = await run(['check'], { ...env, TOKENPROXY_CONFIG: valid })
  t.equal(code, 0)
  t.match(out, `${valid}: configuration is valid`)
  const flag = await run(['check', '-c', valid], { ...env, TOKENPROXY_CONFIG: '/nonexistent.yaml' })
  t.equal(flag.code, 0, '--config (-c) wins over the environment')
})

t.test('an invalid config: exit 2 and every problem on stderr', async (t) => {
  const { invalid } = fixtures(t)
  const { code, out, err } = await run(['check', '--config', invalid])
  t.equal(code, 2)
  t.equal(out, '')
  const problems = [
    'listen.port: must be at most 65535 (got 99999)',
    'credentials.wallet.colour: unknown key',
    'upstreams.wallet.credential: "walet" is not a defined credential (defined: wallet)',
  ]
  for (const p of problems) t.ok(err.includes(p), `stderr names: ${p}`)
  t.equal(err.split('\n').filter((l) => /^ {2}\S+: /.test(l)).length, 3, 'one line per problem')
  t.notOk(err.includes(INLINE), 'no secret in the problems')
  const missingEnv = await run(['check', '--config', fixtures(t).valid], {})
  t.equal(missingEnv.code, 2)
  t.match(missingEnv.err, 'credentials.wallet.clientSecret: env: variable WALLET_SECRET is not set')
})

t.test('config that cannot be found or read: exit 2', async (t) => {
  const none = await run(['check'], {})
  t.equal(none.code, 2, 'no --config and no TOKENPROXY_CONFIG')
  t.match(none.err, 'no config: pass --config FILE or set TOKENPROXY_CONFIG')
  t.match(none.err, /usage:/)
  const empty = await run(['check'], { TOKENPROXY_CONFIG: '' })
  t.equal(empty.code, 2, 'an empty TOKENPROXY_CONFIG is no config')
  const missing = await run(['check', '--config', '/nonexistent/tokenproxy.yaml'], {})
  t.equal(missing.code, 2)
  t.match(missing.err, '(file): cannot read /nonexistent/tokenproxy.yaml (ENOENT)')
  const dir = t.testdir({ 'bad.yaml': 'credentials: [unclosed\n' })
  const yaml = await run(['check', '--config', join(dir, 'bad.yaml')], {})
  t.equal(yaml.code, 2)
  t.match(yaml.err, '(file): not valid YAML')
})

t.test('usage errors exit 2; --help and --version exit 0', async (t) => {
  const unknown = await run(['frobnicate'], {})
  t.equal(unknown.code, 2)
  t.match(unknown.err, 'unknown command "frobnicate"')
  t.match(unknown.err, /usage:/)
  const option = await run(['check', '--bogus'], {})
  t.equal(option.code, 2, 'unknown option')
  t.match(option.err, /bogus/)
  const extra = await run(['run', 'extra', '--config', '/x'], {})
  t.equal(extra.code, 2, 'run takes no arguments')

  const help = await run(['--help'], {})
  t.equal(help.code, 0)
  t.equal(help.err, '')
  for (const cmd of ['[run] --config FILE', 'check --config FILE', 'token NAME --config FILE [--raw]', 'demo', '--version']) {
    t.ok(help.out.includes(cmd), `--help mentions ${cmd}`)
  }
  t.equal((await run(['-h'], {})).code, 0)

  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  const version = await run(['--version'], {})
  t.equal(version.code, 0)
  t.equal(version.out, pkg.version, 'prints the package.json version')
  t.equal(version.err, '')
})
