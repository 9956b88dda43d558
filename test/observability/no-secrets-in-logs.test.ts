// No token, secret or password reaches logs, metrics, admin responses or error bodies; logs carry only fingerprints.
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { createLogger } from '../../src/observability/logger.js'
import { claimsOf, startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const GOOD_SECRET = 'g00d-S3cret+/=&x'
const BASIC_SECRET = 'ba5ic-S3cret:%y z'
const FILE_SECRET = 'fi1e-S3cret?#w'
const WRONG_SECRET = 'wr0ng-S3cret!v'
const CLIENT_PASSWORD = 'the-apps-own-password-77'

const sha8 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8)
const form = (s: string): string => new URLSearchParams({ v: s }).toString().slice(2)
const b64 = (s: string): string => Buffer.from(s).toString('base64')

t.test('a scenario with success, refresh, a 401 replay, an IdP failure and a rejected secret leaks nothing', async (t) => {
  const dir = t.testdir({ 'client-secret': `${FILE_SECRET}\n` })
  const kc = await startKeycloak({
    lifespan: 2.5,
    clients: {
      'good-client': { secret: GOOD_SECRET },
      'basic-client': { secret: BASIC_SECRET },
      'filed-client': { secret: FILE_SECRET },
    },
  })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const kcCred = (clientId: string, clientSecret: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ type: 'keycloak', url: kc.root, realm: kc.realm, clientId, clientSecret, ...extra })
  const { url, admin, logs } = await startSidecar(t, {
    refresh: { minValidity: 0.5 },
    credentials: {
      good: kcCred('good-client', GOOD_SECRET),
      basic: kcCred('basic-client', { env: 'BASIC_SECRET' }, { clientAuth: 'client_secret_basic' }),
      filed: kcCred('filed-client', { file: join(dir, 'client-secret') }),
      bad: kcCred('good-client', WRONG_SECRET),
    },
    upstreams: Object.fromEntries(['good', 'basic', 'filed', 'bad'].map((n) => [n, { target: up.url, credential: n, prefix: `/${n}` }])),
    // Two 401-triggered fetches in a row below: no refetch floor (test/proxy/refetch-floor.test.ts).
  }, { env: { BASIC_SECRET }, refetchLimit: { max: Infinity, windowMs: 0 } })

  const exposed: string[] = []
  const call = async (path: string, init: Parameters<typeof request>[1] = {}): Promise<number> => {
    const res = await request(`${url}${path}`, init)
    const body = await res.body.text()
    if (res.statusCode >= 400) exposed.push(`${res.statusCode} ${JSON.stringify(res.headers)} ${body}`)
    return res.statusCode
  }
  const clientAuth = `Basic ${b64(`app:${CLIENT_PASSWORD}`)}`

  // Success, on every credential, with the client's own credentials in the request.
  for (const n of ['good', 'basic', 'filed']) {
    t.equal(await call(`/${n}/x?q=1`, { headers: { authorization: clientAuth } }), 200, `${n}: 200`)
  }
  // Refresh ahead.
  await until(() => logs.find('token obtained').filter((l) => l.credential === 'good').length >= 2, 6000, 'a refresh of good')
  // Upstream 401 -> one replay with a fresh token.
  up.setMode({ kind: 'reject', tokens: 'all', times: 1 })
  t.equal(await call('/good/replay'), 200, '401 replayed')
  t.equal(up.rejections, 1)
  // IdP failure while a fresh token is needed -> 503.
  kc.setFault({
    kind: 'status',
    status: 500,
    body: '{"error":"unknown_error","error_description":"For more on this error consult the server log."}',
  })
  up.setMode({ kind: 'reject', tokens: 'all', times: 1 })
  t.equal(await call('/good/idp-down'), 503, 'IdP failure: 503')
  kc.setFault(null)
  up.setMode({ kind: 'echo' })
  // The rejected secret.
  await until(() => logs.lines.filter((l) => l.outcome === 'rejected').length > 0, 5000, 'bad to be rejected')
  t.equal(await call('/bad/x', { headers: { authorization: clientAuth } }), 503, 'rejected: 503')
  // Other error bodies.
  t.equal(await call('/nowhere', { headers: { authorization: clientAuth } }), 404)
  t.equal(await call('/good/a%2fb'), 400)
  await until(async () => {
    const body = await (await fetch(`${admin}/readyz`)).json() as { credentials: Record<string, { state: string }> }
    return body.credentials.good!.state === 'valid'
  }, 6000, 'good to recover')
  t.equal(await call('/good/after'), 200, 'recovered after the IdP failure')

  const admins: string[] = []
  for (const path of ['/metrics', '/readyz', '/healthz']) {
    const res = await request(`${admin}${path}`)
    admins.push(`${JSON.stringify(res.headers)} ${await res.body.text()}`)
  }

  t.ok(kc.issued.length >= 5, `the IdP issued ${kc.issued.length} tokens`)
  t.ok(logs.lines.filter((l) => l.outcome === 'error' && l.level === 40).length >= 1, 'the IdP failure was logged')
  t.ok(logs.find('upstream refused the token; fetching a new one').length >= 1, 'the 401 was logged')
  t.ok(exposed.length >= 4, `${exposed.length} error responses collected`)
  const needles: Record<string, string> = {}
  kc.issued.forEach((tok, i) => {
    needles[`token #${i}`] = tok
    needles[`signature of token #${i}`] = tok.split('.')[2]!
  })
  for (const [what, secret] of Object.entries({ GOOD_SECRET, BASIC_SECRET, FILE_SECRET, WRONG_SECRET, CLIENT_PASSWORD })) {
    needles[what] = secret
    needles[`${what} form-encoded`] = form(secret)
  }
  needles['basic client header'] = b64(`${form('basic-client')}:${form(BASIC_SECRET)}`)
  needles['client Authorization header'] = clientAuth.slice('Basic '.length)
  const haystacks: Record<string, string> = { logs: logs.text, admin: admins.join('\n'), 'error bodies': exposed.join('\n') }
  let hits = 0
  for (const [where, text] of Object.entries(haystacks)) {
    for (const [what, needle] of Object.entries(needles)) {
      if (text.includes(needle)) {
        hits++
        t.fail(`${what} appears in ${where}`)
      }
    }
  }
  t.equal(hits, 0, `0 hits for ${Object.keys(needles).length} secrets in ${Object.keys(haystacks).length} places`)

  // Logs identify tokens by fingerprint (first 8 hex of SHA-256) and claims instead.
  const upstreamToken = up.requests[0]!.headers.authorization!.slice('Bearer '.length)
  const obtained = logs.find('token obtained')
  const line = obtained.find((l) => l.fingerprint === sha8(upstreamToken))
  t.ok(line, 'the injected token\'s fingerprint is in a "token obtained" line')
  const claims = claimsOf(upstreamToken)
  t.match(line, { credential: 'good', exp: claims.exp, azp: 'good-client', jti: claims.jti })
  const issuedPrints = new Set(kc.issued.map(sha8))
  t.ok(obtained.length >= 5)
  t.ok(obtained.every((l) => typeof l.fingerprint === 'string' && /^[0-9a-f]{8}$/.test(l.fingerprint) && issuedPrints.has(l.fingerprint)),
    'every "token obtained" line carries the fingerprint of an issued token')
})

t.test('createLogger redacts secret-bearing fields', async (t) => {
  let out = ''
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { out += chunk.toString(); cb() } })
  const log = createLogger('info', sink)
  log.info({
    authorization: 'Bearer eyJ.top.level',
    password: 'pw-top',
    clientSecret: 'cs-top',
    client_secret: 'cs_top',
    access_token: 'at-top',
    refresh_token: 'rt-top',
    token: 'tk-top',
    secret: 'sec-top',
    privateKey: 'pk-top',
    req: { headers: { authorization: 'Bearer nested-header', 'proxy-authorization': 'Basic pa', 'waltid-authorization': 'Bearer wa' } },
    body: { password: 'pw-nested', access_token: 'at-nested', clientSecret: 'cs-nested' },
    headers: { authorization: 'Basic hdr', accept: 'application/json' },
    keep: 'visible',
  }, 'redaction check')
  await new Promise((resolve) => setImmediate(resolve))
  const line = JSON.parse(out.trim()) as Record<string, unknown>
  t.match(line, {
    msg: 'redaction check',
    name: 'tokenproxy',
    authorization: '[redacted]',
    password: '[redacted]',
    clientSecret: '[redacted]',
    client_secret: '[redacted]',
    access_token: '[redacted]',
    refresh_token: '[redacted]',
    token: '[redacted]',
    secret: '[redacted]',
    privateKey: '[redacted]',
    req: { headers: { authorization: '[redacted]', 'proxy-authorization': '[redacted]', 'waltid-authorization': '[redacted]' } },
    body: { password: '[redacted]', access_token: '[redacted]', clientSecret: '[redacted]' },
    headers: { authorization: '[redacted]', accept: 'application/json' },
    keep: 'visible',
  })
  const secrets = [
    'eyJ.top.level', 'pw-top', 'cs-top', 'cs_top', 'at-top', 'rt-top', 'tk-top', 'sec-top', 'pk-top', 'nested-header', 'Basic pa',
    'Bearer wa', 'pw-nested', 'at-nested', 'cs-nested', 'Basic hdr',
  ]
  for (const v of secrets) {
    t.notOk(out.includes(v), `${v} not in the output`)
  }
})
