// The `cache:` block: every problem with its path (the key checked as 32 bytes of base64), defaults, and `check` without secrets.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { summarize } from '../../src/commands/check.js'
import { parseConfig } from '../../src/configuration.js'
import { configProblems } from '../helpers/config-problems.js'

const KEY = randomBytes(32).toString('base64')
const doc = (cache: unknown): string => JSON.stringify({
  credentials: { registry: { type: 'keycloak', url: 'https://kc.example.org', realm: 'r1', clientId: 'test-ext', clientSecret: 's' } },
  upstreams: { registry: { target: 'https://registry.example.org', credential: 'registry', prefix: '/registry' } },
  cache,
})

t.test('a valid block: defaults, secrets from a file, and `check` names the Redis without password or key', async (t) => {
  const dir = t.testdir({ key: `${KEY}\n`, password: 'redis-Passw0rd\n' })
  const config = parseConfig(doc({
    redis: {
      url: 'redis://:url-Passw0rd@redis.example.org:6379/2',
      password: { file: join(dir, 'password') },
      key: { file: join(dir, 'key') },
    }
  }), {})
  t.equal(config.cache?.redis.keyPrefix, 'tokenproxy:')
  t.equal(config.cache?.redis.key.reveal(), KEY)
  t.equal(config.cache?.redis.password?.reveal(), 'redis-Passw0rd')
  const summary = summarize(config, 'tokenproxy.yaml')
  t.match(summary, /cache: redis redis:\/\/redis\.example\.org:6379\/2, keyPrefix "tokenproxy:", key from file .*\/key/)
  for (const secret of [KEY, 'redis-Passw0rd', 'url-Passw0rd']) t.notOk(summary.includes(secret), 'no secret in the summary')
  t.equal(parseConfig(doc(undefined), {}).cache, undefined, 'no cache: none')
})

t.test('every problem at once, each with its path', async (t) => {
  const problems = configProblems(doc({
    redis: {
      url: 'http://redis.example.org',
      key: 'c2hvcnQ=',
      keyPrefix: 'p:',
      tls: true,
      ca: { file: '/nonexistent/ca.pem' },
    }
  }))
  t.same(problems, [
    'cache.redis.tls: unknown key (allowed: url, password, keyPrefix, key, ca)',
    'cache.redis.url: must be a redis:// or rediss:// (TLS) URL (got http:)',
    'cache.redis.key: must be 32 random bytes in base64 (openssl rand -base64 32); the value inline decodes to 5 bytes',
    'cache.redis.ca: file: cannot read /nonexistent/ca.pem (ENOENT)',
  ])
})

t.test('the key: required, base64, exactly 32 bytes; a CA only with rediss://; a database number as the path', async (t) => {
  t.same(configProblems(doc({ redis: { url: 'redis://127.0.0.1' } })), ['cache.redis.key: is required'])
  t.same(configProblems(doc({ redis: { url: 'redis://127.0.0.1', key: 'not base64!' } })),
    ['cache.redis.key: must be 32 random bytes in base64 (openssl rand -base64 32); the value inline is not base64'])
  t.same(configProblems(doc({ redis: { url: 'redis://127.0.0.1', key: randomBytes(33).toString('base64') } })),
    ['cache.redis.key: must be 32 random bytes in base64 (openssl rand -base64 32); the value inline decodes to 33 bytes'])
  t.same(configProblems(doc({ redis: { url: 'redis://127.0.0.1', key: { env: 'CACHE_KEY' } } }), { CACHE_KEY: '' }),
    ['cache.redis.key: env: variable CACHE_KEY is empty'])
  t.same(configProblems(doc({ redis: { url: 'redis://127.0.0.1/x', key: KEY } })),
    ['cache.redis.url: the path must be a database number such as /0 (got /x)'])
  t.same(configProblems(doc({})), ['cache.redis: is required (the only cache there is)'])
  t.same(configProblems(doc({ memcached: {} })),
    ['cache.memcached: unknown key (allowed: redis)', 'cache.redis: is required (the only cache there is)'])
  const dir = t.testdir({})
  const pem = join(dir, 'ca.pem')
  writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
  t.match(configProblems(doc({ redis: { url: 'redis://127.0.0.1', key: KEY, ca: { file: pem } } })).join('\n'), /cache\.redis\.ca: /)
})
