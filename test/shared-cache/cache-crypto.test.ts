// AES-256-GCM sealing of cached tokens: a fresh nonce per write, bound to the cache identity, any change refused.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { open, seal } from '../../src/tokens/cache-crypto.js'
import { cacheIdentity } from '../../src/tokens/cache-identity.js'
import { parseConfig } from '../../src/configuration.js'

const key = randomBytes(32)
const text = JSON.stringify({ token: 'eyJ.payload.sig', expiresAt: 1 })

t.test('round trip, and a fresh nonce per write', async (t) => {
  const a = seal(key, 'id-1', text)
  const b = seal(key, 'id-1', text)
  t.not(a, b, 'two writes of one token differ')
  t.equal(open(key, 'id-1', a), text)
  t.notOk(a.includes('payload'), 'the plaintext is not in the value')
})

t.test('another key, another identity (a value copied to another credential\'s key), any altered byte: undefined', async (t) => {
  const sealed = seal(key, 'id-1', text)
  t.equal(open(randomBytes(32), 'id-1', sealed), undefined, 'another key')
  t.equal(open(key, 'id-2', sealed), undefined, 'another identity')
  const raw = Buffer.from(sealed, 'base64')
  for (const i of [0, 1, 13, raw.length - 17, raw.length - 1]) {
    const altered = Buffer.from(raw)
    altered[i]! ^= 0x40
    t.equal(open(key, 'id-1', altered.toString('base64')), undefined, `byte ${i} altered`)
  }
  t.equal(open(key, 'id-1', 'not base64 at all'), undefined)
  t.equal(open(key, 'id-1', ''), undefined)
})

t.test('the cache identity: who the credential is, never its secret', async (t) => {
  const config = (secret: string, extra: Record<string, unknown> = {}) => parseConfig(JSON.stringify({
    credentials: {
      a: { type: 'keycloak', url: 'https://kc.example.org', realm: 'r', clientId: 'c', clientSecret: secret, ...extra },
      w: { type: 'waltid-wallet', url: 'https://w.example.org', keycloak: 'a' },
    },
    upstreams: { a: { target: 'https://x.example.org', credential: 'a', prefix: '/a' } },
  }), {}).credentials
  const one = config('secret-1')
  t.equal(cacheIdentity(one.a!, one), cacheIdentity(config('secret-2').a!, config('secret-2')), 'a rotated secret keeps the identity')
  t.match(cacheIdentity(one.a!, one), /^[0-9a-f]{64}$/)
  const withParams = (params: Record<string, string>) => config('secret-1', { params })
  const p1 = withParams({ audience: 'api', resource: 'x' })
  const p2 = withParams({ resource: 'x', audience: 'api' })
  t.equal(cacheIdentity(p1.a!, p1), cacheIdentity(p2.a!, p2), 'params in another order: the same identity')
  const others = [
    { clientId: 'd' }, { scope: 'email' }, { realm: 'r2' }, { grant: 'password', username: 'u', password: 'p' },
    { params: { audience: 'api' } },
  ]
  for (const extra of others) {
    const other = config('secret-1', extra)
    t.not(cacheIdentity(other.a!, other), cacheIdentity(one.a!, one), JSON.stringify(Object.keys(extra)))
    t.not(cacheIdentity(other.w!, other), cacheIdentity(one.w!, one), 'and the wallet that logs in with its token')
  }
})
