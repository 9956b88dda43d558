// The leak scan every test sidecar gets finds registered tokens and configured secrets in logs and error bodies, and fails the test.
import t, { type Test } from 'tap'
import { startKeycloak, type KeycloakEmulator } from '../peers/keycloak-emulator.js'
import { issuedList, leakStats } from '../helpers/leak-registry.js'
import { fingerprint, guardAgainstLeaks, scanSidecar } from '../helpers/leak-scan.js'
import { startSidecar, until, type Running } from '../helpers/sidecar.js'

const SECRET = 'leak-scan-S3cret+/x'

/** A token only this test knows; `list.length = 0` unregisters it before the real teardown scan. */
const fakeTokens = issuedList('leak-scan fake token')
const FAKE = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.ZmFrZS1zaWduYXR1cmUtZm9yLXRoZS1sZWFrLXNjYW4'

/** A sidecar whose one credential (Basic auth with SECRET) holds a token; its upstream is never called. */
async function start (t: Test): Promise<Running & { kc: KeycloakEmulator }> {
  const kc = await startKeycloak({ clients: { 'leak-client': { secret: SECRET } } })
  t.teardown(() => kc.close())
  const running = await startSidecar(t, {
    credentials: {
      kc: {
        type: 'keycloak',
        url: kc.root,
        realm: kc.realm,
        clientId: 'leak-client',
        clientSecret: SECRET,
        clientAuth: 'client_secret_basic',
      }
    },
    upstreams: { none: { target: 'http://127.0.0.1:9', credential: 'kc', prefix: '/none' } },
  })
  await until(() => running.sidecar.tokens.usable('kc') !== undefined, 5000, 'a token')
  return { ...running, kc }
}

t.test('a token written to the log under an unredacted key is found, by kind and fingerprint only', async (t) => {
  const running = await start(t)
  fakeTokens.push(FAKE)
  t.teardown(() => { fakeTokens.length = 0 })
  const clean = await scanSidecar(running)
  t.same(clean.hits, [], 'nothing before the leak')
  t.ok(clean.sources.some((s) => s.source === 'admin /metrics'), '/metrics was scraped')
  t.ok(clean.sources.some((s) => s.source === 'admin /readyz'), '/readyz was scraped')

  running.sidecar.logger.info({ note: FAKE }, 'deliberate leak')
  const { hits } = await scanSidecar(running)
  t.match(hits, [{ source: 'logs', kind: 'leak-scan fake token', fingerprint: fingerprint(FAKE) }], 'the whole token')
  t.match(hits, [{}, { source: 'logs', kind: 'leak-scan fake token (JWT signature)' }], 'and its signature alone')
  t.notOk(JSON.stringify(hits).includes(FAKE), 'the hit does not carry the token')
  fakeTokens.length = 0
})

t.test('a token echoed in an error body is found there', async (t) => {
  const running = await start(t)
  fakeTokens.push(FAKE)
  t.teardown(() => { fakeTokens.length = 0 })
  // fastify's 404 names the path: the sidecar's own error body carries the "token".
  const res = await fetch(`${running.admin}/${FAKE}`)
  t.equal(res.status, 404)
  await res.text()
  t.match(running.errorBodies, [{ listener: 'admin', status: 404, method: 'GET' }], 'the error response was captured')
  const { hits } = await scanSidecar(running)
  t.match(hits.map((h) => h.source), [/^error response 404 to GET \/eyJ.* on admin$/], 'found in the error body')
  fakeTokens.length = 0
})

t.test('configured secrets are looked for as configured, form-encoded and as the Basic header', async (t) => {
  const running = await start(t)
  const { kc } = running
  t.same((await scanSidecar(running)).hits, [], 'a token obtained with the secret leaks nothing')

  const sent = kc.requests.at(-1)!.headers.authorization!.slice('Basic '.length)
  running.sidecar.logger.warn({ note: SECRET, copy: encodeURIComponent(SECRET), header: sent, issued: kc.issued[0] }, 'deliberate leak')
  const kinds = (await scanSidecar(running)).hits.map((h) => h.kind).sort()
  t.same(kinds, [
    'keycloak-emulator token',
    'keycloak-emulator token (JWT signature)',
    'secret credentials.kc.clientSecret',
    'secret credentials.kc.clientSecret (Basic, form-encoded)',
    'secret credentials.kc.clientSecret (form-encoded)',
  ], 'every form of the secret and the issued token')
  // Not leaks by the sidecar: wipe the deliberate line so the real teardown scan stays clean.
  running.logs.text = running.logs.text.split('\n').filter((l) => !l.includes('deliberate leak')).join('\n')
})

t.test('the guard fails the test before it ends, and the process after close', async (t) => {
  const running = await start(t)
  fakeTokens.push(FAKE)
  t.teardown(() => { fakeTokens.length = 0 })
  const failures: string[] = []
  const stub = { onbeforeend: async () => {}, fail: (msg: string) => { failures.push(msg) }, fullname: 'stub' }
  const afterClose = guardAgainstLeaks(stub as unknown as Test, running)
  running.sidecar.logger.info({ note: FAKE }, 'deliberate leak')
  const before = leakStats()
  await stub.onbeforeend()
  t.match(failures, [/^leak scan: 2 sensitive string\(s\) in sidecar output: leak-scan fake token \[sha256:[0-9a-f]{8}\] in logs/],
    'the test fails, naming kind, fingerprint and source')
  t.notOk(failures.join('').includes(FAKE), 'without the token itself')
  t.equal(leakStats().hits, before.hits + 2, 'tallied')

  running.sidecar.logger.info({ note: FAKE }, 'deliberate late leak')
  const code = process.exitCode
  const printed: unknown[] = []
  const error = console.error
  console.error = (...args: unknown[]) => { printed.push(...args) }
  try { afterClose() } finally { console.error = error }
  t.equal(process.exitCode, 1, 'a leak after the test ended fails the process')
  process.exitCode = code
  t.match(printed, [/^leak scan \(stub\): leak-scan fake token \[sha256:[0-9a-f]{8}\] in logs \(after close\)/], 'and says why on stderr')
  fakeTokens.length = 0
})
