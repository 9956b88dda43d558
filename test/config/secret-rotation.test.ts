// A `{ file }` secret rotated on disk (a Kubernetes Secret volume's `..data` swap) is re-read and the token refetched, without restart.
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { request } from 'undici'
import type { BackoffOptions } from '../../src/tokens/backoff.js'
import { startKeycloak, type KeycloakEmulator } from '../peers/keycloak-emulator.js'
import { startUpstream, type Upstream } from '../peers/upstream.js'
import { SecretVolume } from '../helpers/secret-volume.js'
import { startSidecar, until, type Running } from '../helpers/sidecar.js'

const POLL_MS = 200
const secret = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`

interface Stack { kc: KeycloakEmulator, up: Upstream, running: Running, vol: SecretVolume, first: string }

async function setup (t: Test, a: string, backoff?: BackoffOptions): Promise<Stack> {
  const vol = new SecretVolume(t.testdir(), `${a}\n`)
  const kc = await startKeycloak({ clients: { 'test-client': { secret: a } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const running = await startSidecar(t, {
    credentials: {
      registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: { file: vol.file } },
    },
    upstreams: { api: { target: up.url, credential: 'registry', prefix: '/api' } },
  }, { secretPollMs: POLL_MS, ...(backoff === undefined ? {} : { backoff }) })
  await until(() => running.sidecar.tokens.usable('registry') !== undefined, 5000, 'the first token')
  return { kc, up, running, vol, first: kc.issued[0]! }
}

/** Proxies one request and returns the token the upstream received. */
async function proxiedToken (s: Stack): Promise<string | undefined> {
  const res = await request(`${s.running.url}/api/x`)
  await res.body.text()
  if (res.statusCode !== 200) throw new Error(`proxied request answered ${res.statusCode}`)
  return /^Bearer (\S+)$/.exec(String(s.up.requests.at(-1)?.headers.authorization))?.[1]
}

const sentSecret = (kc: KeycloakEmulator, i: number): string | null => new URLSearchParams(kc.requests[i]?.body).get('client_secret')
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

t.test('a rotated secret is re-read and a new token fetched with it, without restart', async (t) => {
  const A = secret('A')
  const B = secret('B')
  const s = await setup(t, A)
  const { kc, running, vol } = s
  t.equal(sentSecret(kc, 0), A, 'the first token request carried A')
  t.equal(await proxiedToken(s), s.first)

  kc.setClientSecret('test-client', B)
  const issuedBefore = kc.issued.length
  vol.rotate(`${B}\n`)
  await until(() => kc.requests.length === 2, 5000, 'a token request after the rotation')
  t.equal(sentSecret(kc, 1), B, 'it carried the new secret, trailing newline trimmed')
  await until(() => running.sidecar.tokens.usable('registry')?.token !== s.first, 5000, 'the new token')

  const after = await proxiedToken(s)
  t.not(after, s.first, 'the next proxied request carries another token')
  t.ok(kc.issued.slice(issuedBefore).includes(after!), 'one issued after the rotation')
  const registry = running.sidecar.config.credentials.registry!
  t.equal(registry.type === 'keycloak' && registry.clientSecret?.reveal(), B)

  await sleep(POLL_MS * 4)
  t.equal(kc.requests.length, 2, 'one token request per rotation, not one per poll')
  const changed = running.logs.find('secret changed')
  t.equal(changed.length, 1)
  t.match(changed[0], { level: 30, credential: 'registry', file: vol.file })
  t.equal(running.logs.find('tokenproxy listening').length, 1, 'no restart')
  t.notMatch(running.logs.text, A, 'the old secret never logged')
  t.notMatch(running.logs.text, B, 'the new secret never logged')
})

t.test('a rotation to a secret the identity service rejects keeps serving the old token', async (t) => {
  const A = secret('A')
  const WRONG = secret('WRONG')
  const s = await setup(t, A, { initialMs: 100, maxMs: 30_000, jitter: 0 })
  const { kc, running, vol } = s
  vol.rotate(WRONG)
  await until(() => running.sidecar.tokens.status().registry?.lastError !== null, 5000, 'the rejected refetch')
  t.equal(sentSecret(kc, 1), WRONG)

  for (let i = 0; i < 3; i++) t.equal(await proxiedToken(s), s.first, `request ${i + 1}: 200 with the old token`)
  const ready = await request(`${running.admin}/readyz`)
  t.equal(ready.statusCode, 200, 'still ready: the old token is usable')
  const body = await ready.body.json() as { credentials: { registry: { state: string, lastError: Record<string, unknown> } } }
  t.equal(body.credentials.registry.state, 'failing')
  t.match(body.credentials.registry.lastError, { outcome: 'rejected', status: 401, error: 'unauthorized_client' })
  t.notMatch(JSON.stringify(body), WRONG)

  await t.test('a correct rotation then recovers at once, not after the 30 s backoff', async (t) => {
    const C = secret('C')
    kc.setClientSecret('test-client', C)
    vol.rotate(C)
    await until(() => running.sidecar.tokens.status().registry?.lastError === null, 5000, 'a token with the corrected secret')
    t.equal(sentSecret(kc, kc.requests.length - 1), C)
    t.not(await proxiedToken(s), s.first)
    t.notMatch(running.logs.text, new RegExp(`${A}|${WRONG}|${C}`), 'no secret in the logs')
  })
})

t.test('an empty or unreadable secret file keeps the value read before, with one warning each', async (t) => {
  const A = secret('A')
  const s = await setup(t, A)
  const { kc, running, vol } = s
  const warnings = (what: string): Array<Record<string, unknown>> =>
    running.logs.lines.filter((l) => l.level === 40 && String(l.msg).includes(what))

  vol.rotate('\n')
  await until(() => warnings('is empty').length === 1, 5000, 'the empty-file warning')
  vol.rotate(null)
  await until(() => warnings('cannot be read').length === 1, 5000, 'the unreadable-file warning')
  await sleep(POLL_MS * 4)
  t.equal(warnings('is empty').length, 1, 'logged once, not at every poll')
  t.equal(warnings('cannot be read').length, 1, 'logged once, not at every poll')
  t.match(warnings('cannot be read')[0],
    { file: vol.file, credentials: ['registry'], msg: /cannot be read \(ENOENT\); keeping the value read before/ })
  t.equal(running.logs.find('secret changed').length, 0)
  t.equal(kc.requests.length, 1, 'no token request')

  vol.rotate(A)
  await sleep(POLL_MS * 4)
  t.equal(running.logs.find('secret changed').length, 0, 'a new file with the same value is no change')
  t.equal(kc.requests.length, 1, 'and causes no token request')

  await running.sidecar.tokens.refresh('registry')
  t.equal(sentSecret(kc, 1), A, 'a forced refetch still sends the value read before')
  t.not(running.sidecar.tokens.usable('registry')?.token, s.first, 'and gets a new token with it')

  const B = secret('B')
  kc.setClientSecret('test-client', B)
  vol.rotate(B)
  await until(() => kc.requests.length === 3, 5000, 'the refetch once the file is good again')
  t.equal(sentSecret(kc, 2), B)
  t.notMatch(running.logs.text, new RegExp(`${A}|${B}`))
})

t.test('a fetch in flight with the old secret when the rotation lands is retried at once with the new one', async (t) => {
  const A = secret('A')
  const B = secret('B')
  const s = await setup(t, A, { initialMs: 100, maxMs: 30_000, jitter: 0 })
  const { kc, running, vol } = s
  kc.setFault({ kind: 'delay', ms: 2500, times: 1 })
  const inflight = running.sidecar.tokens.refresh('registry')
  await until(() => kc.requests.length === 2, 2000, 'the slow token request')
  kc.setClientSecret('test-client', B)
  vol.rotate(B)
  await until(() => running.logs.find('secret changed').length === 1, 2000, 'the rotation, while the old-secret request is still in flight')
  t.equal(await inflight, undefined, 'the request with the old secret was rejected')
  await until(() => kc.requests.length === 3 && running.sidecar.tokens.status().registry?.lastError === null, 5000,
    'a new token well before the 30 s backoff')
  t.same([sentSecret(kc, 1), sentSecret(kc, 2)], [A, B])
  const rejected = running.logs.lines.find((l) => l.outcome === 'rejected')
  t.ok(Number(running.logs.find('secret changed')[0]!.time) < Number(rejected!.time),
    'the rotation was seen while the old request was in flight')
  t.not(await proxiedToken(s), s.first)
})
