// Each Keycloak failure from PROTOCOLS.md shows in /readyz lastError, in the 503 problem body and in one log line per failure.
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { hugeJson, startRawIdp } from '../helpers/raw-idp.js'
import { startSidecar, until } from '../helpers/sidecar.js'

interface Expected {
  outcome: 'rejected' | 'error'
  status?: number
  error?: string
  description?: string
  message: string
  /** The assertion on `status` is a known gap. */
}

const INVALID = 'Invalid client or Invalid client credentials'

const EXPECTED: Record<string, Expected> = {
  'wrong-secret': {
    outcome: 'rejected',
    status: 401,
    error: 'unauthorized_client',
    description: INVALID,
    message: `Keycloak answered 401: unauthorized_client: ${INVALID}`,
  },
  'unknown-client': {
    outcome: 'rejected',
    status: 401,
    error: 'invalid_client',
    description: INVALID,
    message: `Keycloak answered 401: invalid_client: ${INVALID}`,
  },
  'no-service-account': {
    outcome: 'rejected',
    status: 401,
    error: 'unauthorized_client',
    description: 'Client not enabled to retrieve service account',
    message: 'Keycloak answered 401: unauthorized_client: Client not enabled to retrieve service account',
  },
  'unknown-realm': {
    outcome: 'error',
    status: 404,
    error: 'Realm does not exist',
    message: 'Keycloak answered 404: Realm does not exist',
  },
  'html-502': {
    outcome: 'error',
    status: 502,
    message: 'Keycloak answered 502: a body that is not a JSON object (text/html)',
  },
  garbage: {
    outcome: 'error',
    status: 200,
    error: 'bad_response',
    message: 'Keycloak answered 200 with a body that is not a JSON object (application/json)',
  },
  'no-token': {
    outcome: 'error',
    status: 200,
    error: 'no_access_token',
    message: 'Keycloak answered 200 without an access_token',
  },
  huge: {
    outcome: 'error',
    status: 200,
    error: 'bad_response',
    message: 'Keycloak answered 200 with an answer larger than 1 MiB',
  },
}

interface Readyz {
  status: string
  credentials: Record<string, { state: string, expiresAt: string | null, lastError: Record<string, unknown> | null }>
}

t.test('Keycloak errors', async (t) => {
  const kc = await startKeycloak({
    realm: 'consent-01-external-system',
    clients: { svc: { secret: 'right-secret' }, 'no-sa': { secret: 'no-sa-secret', serviceAccounts: false } },
  })
  const html = await startKeycloak({ realm: 'r' })
  html.setFault({
    kind: 'status',
    status: 502,
    body: '<html><head><title>502 Bad Gateway</title></head>' +
      '<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>',
  })
  const garbage = await startKeycloak({ realm: 'r' })
  garbage.setFault({ kind: 'garbage' })
  const noToken = await startKeycloak({ realm: 'r' })
  noToken.setFault({ kind: 'no-token' })
  const huge = await startRawIdp((_req, res) => { hugeJson(res, 200, 2 * 1024 * 1024 + 17) })
  const up = await startUpstream()
  t.teardown(async () => { await Promise.all([kc, html, garbage, noToken, huge, up].map((p) => p.close())) })

  const kcCred = (realm: string, clientId: string, clientSecret: string): Record<string, unknown> =>
    ({ type: 'keycloak', url: kc.root, realm, clientId, clientSecret })
  const client = { clientId: 'test-client', clientSecret: 'test-secret' }
  const credentials: Record<string, Record<string, unknown>> = {
    'wrong-secret': kcCred(kc.realm, 'svc', 'wrong-secret'),
    'unknown-client': kcCred(kc.realm, 'nobody', 'whatever'),
    'no-service-account': kcCred(kc.realm, 'no-sa', 'no-sa-secret'),
    'unknown-realm': kcCred('no-such-realm', 'svc', 'right-secret'),
    'html-502': { type: 'keycloak', url: html.root, realm: 'r', ...client },
    garbage: { type: 'keycloak', url: garbage.root, realm: 'r', ...client },
    'no-token': { type: 'keycloak', url: noToken.root, realm: 'r', ...client },
    huge: { type: 'keycloak', tokenUrl: huge.tokenUrl, ...client },
  }
  const names = Object.keys(credentials)
  const { url, admin, logs } = await startSidecar(t, {
    credentials,
    upstreams: Object.fromEntries(names.map((n) => [n, { target: up.url, credential: n, prefix: `/${n}` }])),
  })

  let ready: Readyz | undefined
  await until(async () => {
    ready = await (await fetch(`${admin}/readyz`)).json() as Readyz
    return names.every((n) => ready!.credentials[n]!.lastError !== null)
  }, 8000, 'every credential to fail once')
  const res = await request(`${admin}/readyz`)
  t.equal(res.statusCode, 503, '/readyz is 503')
  ready = await res.body.json() as Readyz
  t.equal(ready.status, 'not_ready')

  for (const name of names) {
    t.test(name, async (t) => {
      const want = EXPECTED[name]!
      const entry = ready!.credentials[name]!
      t.equal(entry.state, 'failing')
      t.equal(entry.expiresAt, null)
      const last = entry.lastError!
      t.equal(last.outcome, want.outcome, 'outcome')
      t.equal(last.status, want.status, 'status')
      t.equal(last.error, want.error, 'error')
      t.equal(last.description, want.description, 'description')
      t.equal(last.message, want.message, 'message')

      const got = await request(`${url}/${name}/x`)
      t.equal(got.statusCode, 503)
      t.match(got.headers['retry-after'], /^[1-9]\d*$/)
      const problem = await got.body.json() as Record<string, unknown>
      t.equal(problem.code, 'TOKEN_UNAVAILABLE')
      t.equal(problem.status, 503)
      t.equal(problem.credential, name)
      t.equal(problem.detail, `no usable access token for credential "${name}": ${want.message}`)
      // error / error_description are the identity service's words: only there when it answered.
      const answered = last.status !== undefined
      t.equal(problem.error, answered ? want.error : undefined, 'problem error')
      t.equal(problem.error_description, answered ? want.description : undefined, 'problem error_description')
      t.notOk('error' in problem && (want.error === undefined || !answered), 'no error member when there is none')

      const lines = logs.lines.filter((l) => l.credential === name && typeof l.failures === 'number')
      t.ok(lines.length >= 1, 'at least one failure logged')
      t.same(lines.map((l) => l.failures), lines.map((_, i) => i + 1), 'one log line per failure, none skipped or repeated')
      const first = lines[0]!
      if (want.outcome === 'rejected') {
        t.equal(first.level, 50, 'rejected: logged as error')
        t.match(first.msg, name, 'the message names the credential')
        t.ok(String(first.msg).endsWith(`rejected by the identity service: ${want.message}`), 'and says it was rejected, and why')
        t.equal(first.retryInS, 1, 'rejected: retried on the slow end of the backoff')
      } else {
        t.equal(first.level, 40, 'error: logged as warning')
        t.match(first.msg, name, 'the message names the credential')
        t.ok(String(first.msg).endsWith(`failed: ${want.message}`), 'and says why the request failed')
        t.equal(first.retryInS, 0.1, 'error: first retry on the fast end of the backoff')
      }
      t.equal(first.outcome, want.outcome)
      t.equal(first.error, want.error)
    })
  }
  t.equal(up.requests.length, 0, 'no request reached the upstream without a token')
  t.ok(huge.requests.length >= 1, 'the huge-body server was asked')
})
