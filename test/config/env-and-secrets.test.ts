// ${VAR} / ${VAR:-default} substitution and secret fields (string, {file}, {env}) that never show their value.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { format, inspect } from 'node:util'
import t from 'tap'
import { parseConfig } from '../../src/configuration.js'
import { configProblems } from '../helpers/config-problems.js'
import type { Config } from '../../src/configuration.js'
import type { KeycloakCredential } from '../../src/credentials/keycloak.js'
import { Secret } from '../../src/config/secrets.js'

const UPSTREAMS = `
upstreams:
  registry:
    target: https://registry.example.org
    credential: registry
    prefix: /registry
`

/** A YAML config whose registry credential ends with `secretYaml` (indented under it). */
function doc (credentialExtra: string, top = ''): string {
  return `${top}
credentials:
  registry:
    type: keycloak
    url: https://kc.example.org
    realm: r1
    clientId: test-ext
${credentialExtra.split('\n').map((l) => `    ${l}`).join('\n')}
${UPSTREAMS}`
}

const problems = configProblems

/** The `registry` credential, which every document here declares as type keycloak. */
function keycloak (cfg: Config): KeycloakCredential {
  const cred = cfg.credentials.registry!
  if (cred.type !== 'keycloak') throw new Error(`registry is ${cred.type}`)
  return cred
}

const secretOf = (cfg: Config): Secret => keycloak(cfg).clientSecret!

t.test('${VAR} and ${VAR:-default} are substituted in any string', async (t) => {
  const text = `
listen:
  host: \${HOST:-127.0.0.1}
  port: \${PORT}
admin:
  port: \${ADMIN_PORT:-9911}
log:
  level: \${LEVEL:-warn}
refresh:
  minValidity: \${MIN_VALIDITY}
credentials:
  registry:
    type: keycloak
    url: https://\${KC_HOST}/auth
    realm: \${REALM:-consent-01-external-system}
    clientId: \${CLIENT_ID}-\${SUFFIX:-x}
    clientSecret: \${REGISTRY_CLIENT_SECRET}
    scope: \${SCOPE:-}
upstreams:
  registry:
    target: https://\${REGISTRY_HOST}
    credential: registry
    prefix: /\${PREFIX:-registry}
`
  const cfg = parseConfig(text, {
    PORT: '8181',
    MIN_VALIDITY: '0.5',
    KC_HOST: 'kc.example.org',
    CLIENT_ID: 'test-ext',
    LEVEL: '',
    REGISTRY_CLIENT_SECRET: 'env-secret',
    REGISTRY_HOST: 'registry.example.org',
    SUFFIX: 'y',
  })
  t.match(cfg.listen, { host: '127.0.0.1', port: 8181 }, 'a number (port) through the environment')
  t.equal(cfg.admin.port, 9911, 'a number default')
  t.equal(cfg.log.level, 'warn', 'a set-but-empty variable takes the default')
  t.equal(cfg.refresh.minValidity, 0.5)
  const cred = keycloak(cfg)
  t.equal(cred.tokenUrl, 'https://kc.example.org/auth/realms/consent-01-external-system/protocol/openid-connect/token',
    'inside a longer string')
  t.equal(cred.clientId, 'test-ext-y', 'several references in one string')
  t.equal(cred.clientSecret!.reveal(), 'env-secret')
  t.equal(cred.scope, undefined, 'an empty default is an empty string, i.e. unset')
  t.equal(cfg.upstreams.registry!.target, 'https://registry.example.org')
  t.equal(cfg.upstreams.registry!.prefix, '/registry')
})

t.test('an unset variable without a default is a problem with its path', async (t) => {
  const got = problems(doc('clientSecret: ${REGISTRY_CLIENT_SECRET}', 'listen:\n  port: ${PORT}'), {})
  t.ok(got.includes('listen.port: environment variable PORT is not set'), 'listen.port')
  t.ok(got.includes('credentials.registry.clientSecret: environment variable REGISTRY_CLIENT_SECRET is not set'), 'clientSecret')
  t.equal(got.filter((p) => p.includes('environment variable')).length, 2, 'both reported in one go')
  const other = problems(doc('clientSecret: s\nscope: "${A} ${B:-b} ${C}"'), { B: 'x' })
  t.same(other, [
    'credentials.registry.scope: environment variable A is not set',
    'credentials.registry.scope: environment variable C is not set',
  ], 'each missing variable of one string is named')
})

t.test('$${ escapes a literal ${', async (t) => {
  const cfg = parseConfig(doc('clientSecret: "pa$${HOME}ss"\nscope: "$${SCOPE} $${X:-y}"'), { HOME: '/root', SCOPE: 'nope' })
  t.equal(secretOf(cfg).reveal(), 'pa${HOME}ss')
  t.equal(keycloak(cfg).scope, '${SCOPE} ${X:-y}')
  const dollar = parseConfig(doc('clientSecret: "a$b$ {c}"'), {})
  t.equal(secretOf(dollar).reveal(), 'a$b$ {c}', 'a lone $ is kept as is')
})

t.test('a secret is a string, { file: PATH } or { env: NAME }', async (t) => {
  const dir = t.testdir({
    'client-secret': 'from-the-file\n',
    'crlf-secret': 'crlf-value\r\n',
    'two-lines': 'line1\nline2\n\n',
    plain: 'no-newline',
  })
  const inline = parseConfig(doc('clientSecret: inline-value'), {})
  t.equal(secretOf(inline).reveal(), 'inline-value')
  t.equal(secretOf(inline).describe(), 'inline')

  const file = join(dir, 'client-secret')
  const fromFile = parseConfig(doc(`clientSecret: { file: ${file} }`), {})
  t.equal(secretOf(fromFile).reveal(), 'from-the-file', 'trailing newline trimmed')
  t.equal(secretOf(fromFile).describe(), `from file ${file}`)
  t.equal(secretOf(parseConfig(doc(`clientSecret: { file: ${join(dir, 'crlf-secret')} }`), {})).reveal(), 'crlf-value', 'CRLF trimmed')
  t.equal(secretOf(parseConfig(doc(`clientSecret: { file: ${join(dir, 'plain')} }`), {})).reveal(), 'no-newline')
  t.equal(secretOf(parseConfig(doc(`clientSecret: { file: ${join(dir, 'two-lines')} }`), {})).reveal(), 'line1\nline2\n',
    'only the one trailing newline is trimmed')
  t.equal(secretOf(parseConfig(doc('clientSecret: { file: "${SECRETS}/client-secret" }'), { SECRETS: dir })).reveal(), 'from-the-file',
    'the path may use ${VAR}')

  const fromEnv = parseConfig(doc('clientSecret: { env: KC_SECRET }'), { KC_SECRET: 'from-the-env' })
  t.equal(secretOf(fromEnv).reveal(), 'from-the-env')
  t.equal(secretOf(fromEnv).describe(), 'from env KC_SECRET')

  // The file is read at start: changing it later does not change the loaded secret.
  writeFileSync(file, 'rotated\n')
  t.equal(secretOf(fromFile).reveal(), 'from-the-file')
})

t.test('unreadable files, unset variables and invalid shapes are problems', async (t) => {
  const dir = t.testdir({ sub: {} })
  const missing = join(dir, 'nope')
  const cases: Array<[string, NodeJS.ProcessEnv, string]> = [
    [`clientSecret: { file: ${missing} }`, {}, `credentials.registry.clientSecret: file: cannot read ${missing} (ENOENT)`],
    [`clientSecret: { file: ${join(dir, 'sub')} }`, {},
      `credentials.registry.clientSecret: file: cannot read ${join(dir, 'sub')} (EISDIR)`],
    ['clientSecret: { file: "" }', {}, 'credentials.registry.clientSecret: file: must be a non-empty path'],
    ['clientSecret: { file: 7 }', {}, 'credentials.registry.clientSecret: file: must be a non-empty path'],
    ['clientSecret: { env: KC_SECRET }', {}, 'credentials.registry.clientSecret: env: variable KC_SECRET is not set'],
    ['clientSecret: { env: "" }', {}, 'credentials.registry.clientSecret: env: must be a variable name'],
    ['clientSecret: { file: /x, env: Y }', { Y: 'y' },
      'credentials.registry.clientSecret: must have exactly one of "file" or "env" (got "file", "env")'],
    ['clientSecret: { value: x }', {}, 'credentials.registry.clientSecret: must have exactly one of "file" or "env" (got "value")'],
    ['clientSecret: { fromEnv: X }', { X: 'x' },
      'credentials.registry.clientSecret: must have exactly one of "file" or "env" (got "fromEnv")'],
    ['clientSecret: {}', {}, 'credentials.registry.clientSecret: must have exactly one of "file" or "env" (got nothing)'],
    ['clientSecret: [a, b]', {}, 'credentials.registry.clientSecret: must be a string, { file: PATH } or { env: NAME }'],
    ['clientSecret: true', {}, 'credentials.registry.clientSecret: must be a string, { file: PATH } or { env: NAME }'],
  ]
  for (const [yaml, env, expected] of cases) t.same(problems(doc(yaml), env), [expected], yaml)
})

t.test('a Secret never shows its value', async (t) => {
  const cfg = parseConfig(doc('clientSecret: { env: KC_SECRET }'), { KC_SECRET: 'hunter2-very-secret' })
  const secret = secretOf(cfg)
  t.type(secret, Secret)
  const views: Record<string, string> = {
    'JSON.stringify(config)': JSON.stringify(cfg),
    'JSON.stringify(secret)': JSON.stringify(secret),
    'util.inspect(config)': inspect(cfg, { depth: Infinity }),
    'util.inspect(showHidden)': inspect(secret, { showHidden: true, depth: Infinity }),
    'String()': String(secret),
    template: `${String(secret)}`,
    concatenation: 'x' + String(secret),
    '%o': format('%o', cfg),
    '%j': format('%j', cfg),
    '%s': format('%s', secret),
    'Object.entries': JSON.stringify(Object.entries(secret)),
  }
  for (const [how, text] of Object.entries(views)) t.notOk(text.includes('hunter2'), `${how} does not show the value`)
  t.equal(String(secret), '[secret]')
  t.equal(JSON.stringify(secret), '"[secret]"')
  t.equal(inspect(secret), '[secret]')
  t.match(JSON.parse(JSON.stringify(cfg)), { credentials: { registry: { clientSecret: '[secret]' } } })
  t.equal(secret.reveal(), 'hunter2-very-secret', 'the value is still there for the token request')
  const direct = new Secret('x-direct-value', { kind: 'file', path: '/p' })
  t.notOk(inspect(direct).includes('x-direct-value'))
  t.notOk(JSON.stringify({ direct }).includes('x-direct-value'))
})
