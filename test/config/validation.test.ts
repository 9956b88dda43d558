// Config validation reports every problem at once with its path, applies the defaults and freezes the result.
import t from 'tap'
import { CREDENTIAL_TYPES } from '../../src/credentials/registry.js'
import { ConfigError, parseConfig } from '../../src/configuration.js'
import type { Config } from '../../src/configuration.js'
import { configProblems } from '../helpers/config-problems.js'

type Doc = Record<string, unknown>

/** A minimal valid document; each test changes one thing. */
function base (): Doc {
  return {
    credentials: { registry: { type: 'keycloak', url: 'https://kc.example.org', realm: 'r1', clientId: 'test-ext', clientSecret: 's' } },
    upstreams: { registry: { target: 'https://registry.example.org', credential: 'registry', prefix: '/registry' } },
  }
}

const problems = (doc: unknown, env: NodeJS.ProcessEnv = {}): string[] => configProblems(JSON.stringify(doc), env)

const parse = (doc: unknown): Config => parseConfig(JSON.stringify(doc), {})

/** Sets `value` at a dotted path of a fresh base document. */
function withValue (path: string, value: unknown, doc: Doc = base()): Doc {
  const keys = path.split('.')
  let node = doc
  for (const k of keys.slice(0, -1)) {
    if (node[k] === undefined || node[k] === null) node[k] = {}
    node = node[k] as Doc
  }
  node[keys[keys.length - 1]!] = value
  return doc
}

t.test('one config with many mistakes: every problem, each with its path, in one ConfigError', async (t) => {
  const yaml = `
listen:
  host: 127.0.0.1
  port: 99999
admin:
  port: abc
log:
  level: loud
refresh:
  at: 1.2
  minValidity: -1
colour: blue
credentials:
  registry:
    type: keycloak
    url: http://keycloak.example.org/auth
    realm: consent-01-external-system
    clientId: test-ext
    clientSecret: s
    extra: 1
  wallet:
    type: keycloak
    tokenUrl: https://keycloak.example.org/auth/realms/w/protocol/openid-connect/token
    clientId: wallet
    clientSecret: { file: /run/secrets/x, env: X }
upstreams:
  wallet: { target: https://wallet.example.org, credential: walet, prefix: /wallet }
  registry: { target: https://registry.example.org, credential: registry }
`
  let caught: unknown
  try {
    parseConfig(yaml, {})
  } catch (err) {
    caught = err
  }
  t.type(caught, ConfigError)
  const err = caught as ConfigError
  t.equal(err.name, 'ConfigError')
  const expected: Array<string | RegExp> = [
    'colour: unknown key (allowed: listen, admin, log, refresh, shutdown, credentials, upstreams, cache)',
    'listen.port: must be at most 65535 (got 99999)',
    'admin.port: must be a number (got "abc")',
    'log.level: "loud" is not one of fatal, error, warn, info, debug, trace, silent',
    'refresh.at: must be less than 1 (got 1.2)',
    'refresh.minValidity: must be at least 0 (got -1)',
    // eslint-disable-next-line @stylistic/max-len -- a regular expression literal does not wrap
    /^credentials\.registry\.extra: unknown key \(allowed: type, timeout, insecureHttp, url, realm, tokenUrl, grant, clientId, clientSecret, clientAuth, scope(, \w+)*\)$/,
    'credentials.registry.url: plain http:// to keycloak.example.org would send secrets in clear; use https:// or set insecureHttp: true',
    'credentials.wallet.clientSecret: must have exactly one of "file" or "env" (got "file", "env")',
    'upstreams.wallet.credential: "walet" is not a defined credential (defined: registry, wallet)',
    'upstreams.registry: needs a prefix (on listen) or a port (dedicated listener), or both',
  ]
  t.equal(err.problems.length, expected.length, 'every problem, nothing more')
  expected.forEach((want, i) => {
    if (typeof want === 'string') t.equal(err.problems[i], want)
    else t.match(err.problems[i], want)
  })
  t.equal(err.message, `invalid configuration:\n  ${err.problems.join('\n  ')}`, 'the message lists every problem, one per line')
})

t.test('unknown keys are errors at every level', async (t) => {
  const cases: Array<[string, string]> = [
    ['colour', 'colour'],
    ['listen.hots', 'listen.hots'],
    ['admin.path', 'admin.path'],
    ['log.colour', 'log.colour'],
    ['refresh.every', 'refresh.every'],
    ['shutdown.timeout', 'shutdown.timeout'],
    ['credentials.registry.clientsecret', 'credentials.registry.clientsecret'],
    ['upstreams.registry.target_url', 'upstreams.registry.target_url'],
  ]
  for (const [path, reported] of cases) {
    const got = problems(withValue(path, 'x'))
    t.equal(got.length, 1, `${path}: exactly one problem`)
    t.match(got[0], new RegExp(`^${reported.replaceAll('.', '\\.')}: unknown key \\(allowed: `), `${path} is reported with its path`)
  }
})

t.test('bad types and out-of-range values', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['listen', 'localhost:8080', 'listen: must be a mapping'],
    ['listen.port', 70000, 'listen.port: must be at most 65535 (got 70000)'],
    ['listen.port', -1, 'listen.port: must be at least 0 (got -1)'],
    ['listen.port', 80.5, 'listen.port: must be a whole number (got 80.5)'],
    ['listen.host', ['a'], 'listen.host: must be a string'],
    ['log.format', 'xml', 'log.format: "xml" is not one of json, pretty'],
    ['log.requests', 'sometimes', 'log.requests: must be true or false (got "sometimes")'],
    ['refresh.jitter', 0.5, 'refresh.jitter: must be less than 0.5 (got 0.5)'],
    ['refresh.jitter', -0.1, 'refresh.jitter: must be at least 0 (got -0.1)'],
    ['refresh.minValidity', 'soon', 'refresh.minValidity: must be a number (got "soon")'],
    ['shutdown.grace', -1, 'shutdown.grace: must be at least 0 (got -1)'],
    ['credentials.registry.timeout', 0, 'credentials.registry.timeout: must be greater than 0 (got 0)'],
    ['credentials.registry.timeout', 301, 'credentials.registry.timeout: must be at most 300 (got 301)'],
    ['credentials.registry.insecureHttp', 'yes', 'credentials.registry.insecureHttp: must be true or false (got "yes")'],
    ['credentials.registry.clientId', { id: 1 }, 'credentials.registry.clientId: must be a string'],
    ['credentials.registry.clientSecret', 42, 'credentials.registry.clientSecret: must be a string, { file: PATH } or { env: NAME }'],
    ['credentials.registry.type', 'oauth', `credentials.registry.type: "oauth" is not one of ${CREDENTIAL_TYPES.join(', ')}`],
    ['credentials.registry.realm', 'a/b', 'credentials.registry.realm: "a/b" is not a realm name'],
    ['credentials.registry.url', 'ftp://kc.example.org', 'credentials.registry.url: must be an http:// or https:// URL (got ftp:)'],
    ['credentials.registry.url', 'not a url', 'credentials.registry.url: "not a url" is not a URL'],
    ['upstreams.registry.timeout', 0, 'upstreams.registry.timeout: must be greater than 0 (got 0)'],
    ['upstreams.registry.target', 'https://u:p@registry.example.org', 'upstreams.registry.target: must not carry credentials in the URL'],
    ['upstreams.registry.prefix', 'registry', 'upstreams.registry.prefix: "registry" must be a plain absolute path such as /registry'],
    ['upstreams.registry.prefix', '/a/../b', 'upstreams.registry.prefix: "/a/../b" must be a plain absolute path such as /registry'],
    ['upstreams.registry.port', 'x', 'upstreams.registry.port: must be a number (got "x")'],
  ]
  for (const [path, value, expected] of cases) {
    t.same(problems(withValue(path, value)), [expected], `${path} = ${JSON.stringify(value)}`)
  }
  const clientAuth = problems(withValue('credentials.registry.clientAuth', 'bogus'))
  t.equal(clientAuth.length, 1)
  t.match(clientAuth[0], /^credentials\.registry\.clientAuth: "bogus" is not one of client_secret_post, client_secret_basic/)
  const noType = problems(withValue('credentials.registry.type', undefined))
  t.same(noType, [`credentials.registry.type: is required (one of ${CREDENTIAL_TYPES.join(', ')})`])
  t.ok(CREDENTIAL_TYPES.includes('keycloak'))
  t.same(problems(withValue('credentials.registry.clientId', undefined)), ['credentials.registry.clientId: is required'])
  t.same(problems(withValue('credentials.registry.clientSecret', undefined)), ['credentials.registry.clientSecret: is required'])
  t.same(problems(withValue('upstreams.registry.target', undefined)), ['upstreams.registry.target: is required'])
  t.same(problems(withValue('credentials.bad name!', (base().credentials as Doc).registry)),
    ['credentials.bad name!: name must be letters, digits, _ . - (at most 63)'])
})

t.test('credentials and upstreams must each define at least one entry', async (t) => {
  t.same(problems({ upstreams: base().upstreams, credentials: {} }), [
    'credentials: must define at least one entry',
    'upstreams.registry.credential: "registry" is not a defined credential (defined: none)',
  ])
  t.same(problems({ credentials: base().credentials }), ['upstreams: is required and must define at least one entry'])
  t.same(problems({ credentials: base().credentials, upstreams: [] }), ['upstreams: must be a mapping of names to entries'])
})

t.test('refresh.at must be inside (0, 1), and so must at ± jitter', async (t) => {
  t.same(problems(withValue('refresh', { at: 0 })), ['refresh.at: must be greater than 0 (got 0)'])
  t.same(problems(withValue('refresh', { at: 1 })), ['refresh.at: must be less than 1 (got 1)'])
  t.same(problems(withValue('refresh', { at: -0.5 })), ['refresh.at: must be greater than 0 (got -0.5)'])
  t.same(problems(withValue('refresh', { at: 0.97 })), ['refresh: at ± jitter must stay inside (0, 1) (got 0.97 ± 0.05)'])
  t.same(problems(withValue('refresh', { at: 0.03 })), ['refresh: at ± jitter must stay inside (0, 1) (got 0.03 ± 0.05)'])
  t.same(parse(withValue('refresh', { at: 0.97, jitter: 0 })).refresh, { at: 0.97, jitter: 0, minValidity: 5 })
  t.same(parse(withValue('refresh', { at: 0.5, jitter: 0.2, minValidity: 0.5 })).refresh, { at: 0.5, jitter: 0.2, minValidity: 0.5 })
  t.equal(parse(withValue('refresh', { minValidity: 0 })).refresh.minValidity, 0, 'minValidity 0 is allowed')
})

t.test('duplicate prefixes and ports are refused', async (t) => {
  const two = (a: Doc, b: Doc): Doc => ({
    credentials: base().credentials,
    upstreams: {
      a: { target: 'https://a.example.org', credential: 'registry', ...a },
      b: { target: 'https://b.example.org', credential: 'registry', ...b },
    },
  })
  t.same(problems(two({ prefix: '/api' }, { prefix: '/api' })), ['upstreams.b.prefix: /api is already used by upstreams.a'])
  t.same(problems(two({ prefix: '/api' }, { prefix: '/api/' })), ['upstreams.b.prefix: /api is already used by upstreams.a'],
    'a trailing slash does not make a prefix different')
  t.same(problems(two({ port: 8081 }, { port: 8081 })), ['upstreams.b.port: 8081 is already used by upstreams.a.port'])
  t.same(problems(two({ port: 8080 }, { prefix: '/b' })), ['upstreams.a.port: 8080 is already used by listen.port'],
    'the default listen port counts')
  t.same(problems(two({ port: 9901 }, { prefix: '/b' })), ['upstreams.a.port: 9901 is already used by admin.port'],
    'the default admin port counts')
  t.same(problems({ ...base(), listen: { port: 9000 }, admin: { port: 9000 } }), ['admin.port: 9000 is also listen.port'])
  t.same(problems(two({ prefix: '/api', credential: 'walet' }, { prefix: '/api' })), [
    'upstreams.a.credential: "walet" is not a defined credential (defined: registry)',
    'upstreams.b.prefix: /api is already used by upstreams.a',
  ], 'a duplicate is reported even when the first upstream has another problem')
  const ok = parse(two({ prefix: '/a', port: 8081 }, { prefix: '/b', port: 8082 }))
  t.same([ok.upstreams.a!.prefix, ok.upstreams.a!.port, ok.upstreams.b!.prefix, ok.upstreams.b!.port], ['/a', 8081, '/b', 8082])
  const zero = parse({ ...two({ port: 0 }, { port: 0 }), listen: { port: 0 }, admin: { port: 0 } })
  t.same([zero.upstreams.a!.port, zero.upstreams.b!.port], [0, 0], 'port 0 (any free port) may repeat')
})

t.test('an upstream needs a prefix or a port', async (t) => {
  t.same(problems(withValue('upstreams.registry.prefix', undefined)),
    ['upstreams.registry: needs a prefix (on listen) or a port (dedicated listener), or both'])
  const portOnly = parse(withValue('upstreams.registry', { target: 'https://registry.example.org', credential: 'registry', port: 8081 }))
  t.equal(portOnly.upstreams.registry!.port, 8081)
  t.equal(portOnly.upstreams.registry!.prefix, undefined)
})

t.test('plain http:// is refused to a non-loopback host unless insecureHttp: true', async (t) => {
  t.same(problems(withValue('upstreams.registry.target', 'http://registry.example.org')),
    ['upstreams.registry.target: plain http:// to registry.example.org would send secrets in clear; ' +
      'use https:// or set insecureHttp: true'])
  t.same(problems(withValue('credentials.registry.url', 'http://kc.example.org/auth')),
    ['credentials.registry.url: plain http:// to kc.example.org would send secrets in clear; use https:// or set insecureHttp: true'])
  const plainTokenUrl = withValue('credentials.registry',
    { type: 'keycloak', tokenUrl: 'http://10.0.0.5/token', clientId: 'c', clientSecret: 's' })
  t.same(problems(plainTokenUrl),
    ['credentials.registry.tokenUrl: plain http:// to 10.0.0.5 would send secrets in clear; use https:// or set insecureHttp: true'])
  for (const host of ['127.0.0.1.evil.example', 'localhost.evil.example', '0.0.0.0']) {
    t.same(problems(withValue('upstreams.registry.target', `http://${host}:8080`)).length, 1, `${host} is not loopback`)
  }

  const insecure = withValue('upstreams.registry.insecureHttp', true, withValue('upstreams.registry.target', 'http://registry.example.org'))
  withValue('credentials.registry.insecureHttp', true, insecure)
  withValue('credentials.registry.url', 'http://kc.example.org', insecure)
  const cfg = parse(insecure)
  t.equal(cfg.upstreams.registry!.target, 'http://registry.example.org')
  t.equal(cfg.upstreams.registry!.insecureHttp, true)
  t.equal(cfg.credentials.registry!.tokenUrl, 'http://kc.example.org/realms/r1/protocol/openid-connect/token')
  t.equal(cfg.credentials.registry!.insecureHttp, true)

  for (const host of ['127.0.0.1:8080', 'localhost:8080', '[::1]:8080', '127.1.2.3', '[::ffff:127.0.0.1]']) {
    const doc = withValue('upstreams.registry.target', `http://${host}`, withValue('credentials.registry.url', `http://${host}`))
    const c = parse(doc)
    t.equal(c.upstreams.registry!.target, `http://${host}`, `loopback ${host} is allowed without insecureHttp`)
  }
})

t.test('a name under .localhost is not loopback: the system resolver may send it to network DNS', async (t) => {
  for (const host of ['kc.localhost', 'localhost.', 'localhost.example.org', '128.0.0.1', '[::2]']) {
    const doc = withValue('upstreams.registry.target', `http://${host}`, withValue('credentials.registry.url', `http://${host}`))
    const hostname = new URL(`http://${host}`).hostname
    t.same(problems(doc), [
      `credentials.registry.url: plain http:// to ${hostname} would send secrets in clear; use https:// or set insecureHttp: true`,
      `upstreams.registry.target: plain http:// to ${hostname} would send secrets in clear; use https:// or set insecureHttp: true`,
    ], `${host} needs https or insecureHttp`)
  }
})

t.test('url + realm or tokenUrl, never both, never neither', async (t) => {
  const cred = (extra: Doc): Doc => withValue('credentials.registry', { type: 'keycloak', clientId: 'c', clientSecret: 's', ...extra })
  t.same(problems(cred({ url: 'https://kc.example.org', realm: 'r1', tokenUrl: 'https://kc.example.org/t' })),
    ['credentials.registry: give either tokenUrl or url + realm, not both'])
  t.same(problems(cred({})), ['credentials.registry: needs url + realm (or tokenUrl)'])
  t.same(problems(cred({ url: 'https://kc.example.org' })), ['credentials.registry: needs url + realm (or tokenUrl)'])
  t.same(problems(cred({ realm: 'r1' })), ['credentials.registry: needs url + realm (or tokenUrl)'])
  t.equal(parse(cred({ tokenUrl: 'https://idp.example.org/oauth/token' })).credentials.registry!.tokenUrl,
    'https://idp.example.org/oauth/token', 'tokenUrl is used as given')
})

t.test('the token URL is {url}/realms/{realm}/protocol/openid-connect/token, with or without /auth', async (t) => {
  const at = (url: string, realm = 'consent-01-external-system'): string =>
    parse(withValue('credentials.registry.realm', realm, withValue('credentials.registry.url', url))).credentials.registry!.tokenUrl
  t.equal(at('https://keycloak.example.org'),
    'https://keycloak.example.org/realms/consent-01-external-system/protocol/openid-connect/token')
  t.equal(at('https://keycloak.example.org/auth'),
    'https://keycloak.example.org/auth/realms/consent-01-external-system/protocol/openid-connect/token', 'Keycloak <= 16 root')
  t.equal(at('https://keycloak.example.org/auth/'),
    'https://keycloak.example.org/auth/realms/consent-01-external-system/protocol/openid-connect/token', 'trailing slash dropped')
  t.equal(at('https://keycloak.example.org:8443/kc/auth', 'r1'),
    'https://keycloak.example.org:8443/kc/auth/realms/r1/protocol/openid-connect/token')
})

t.test('defaults', async (t) => {
  const cfg = parse(base())
  t.same(cfg.listen, { host: '127.0.0.1', port: 8080, headersTimeout: 10, bodyTimeout: 30, idleTimeout: 5, replayBudget: 32 * 1024 * 1024 })
  t.same(cfg.admin, { host: '127.0.0.1', port: 9901 })
  t.same(cfg.log, { level: 'info', requests: false }, 'no access log; format left to the terminal test')
  t.same(cfg.refresh, { at: 0.8, jitter: 0.05, minValidity: 5 })
  t.equal(cfg.shutdownGrace, 10)
  const cred = cfg.credentials.registry!
  if (cred.type !== 'keycloak') throw new Error('registry is a keycloak credential')
  t.equal(cred.name, 'registry')
  t.equal(cred.grant, 'client_credentials')
  t.equal(cred.clientAuth, 'client_secret_post')
  t.equal(cred.timeout, 10, 'token request timeout 10 s')
  t.equal(cred.insecureHttp, false)
  t.equal(cred.scope, undefined)
  const up = cfg.upstreams.registry!
  t.equal(up.timeout, 30, 'upstream response-header timeout 30 s')
  t.equal(up.connections, 128, 'at most 128 connections to the upstream')
  t.equal(up.insecureHttp, false)
  t.equal(up.port, undefined)
  t.equal(up.name, 'registry')
  const listenOnly = parse({ ...base(), listen: { host: '0.0.0.0' } })
  t.match(listenOnly.listen, { host: '0.0.0.0', port: 8080 }, 'a partial endpoint keeps the other default')
})

t.test('the validated config is frozen', async (t) => {
  const cfg = parse(base())
  const parts = {
    config: cfg,
    listen: cfg.listen,
    refresh: cfg.refresh,
    credentials: cfg.credentials,
    credential: cfg.credentials.registry,
    upstreams: cfg.upstreams,
    upstream: cfg.upstreams.registry,
  }
  for (const [what, v] of Object.entries(parts)) {
    t.ok(Object.isFrozen(v), `${what} is frozen`)
  }
  t.throws(() => { (cfg.listen as { port: number }).port = 1 }, TypeError)
  t.throws(() => { (cfg.upstreams.registry as { target: string }).target = 'https://evil.example.org' }, TypeError)
  t.throws(() => { (cfg.credentials as Record<string, unknown>).extra = {} }, TypeError)
  t.equal(cfg.upstreams.registry!.target, 'https://registry.example.org')
})
