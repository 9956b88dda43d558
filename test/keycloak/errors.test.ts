// Each Keycloak failure, produced by a real Keycloak: what /readyz, the 503 body, the log and `tokenproxy token` say.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { cli } from '../../src/cli.js'
import { confidentialClient, passwordUser, realKeycloak, realmName } from '../peers/keycloak-server.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

interface Case { status: number, error: string, description?: string, outcome: 'rejected' | 'error' }

const INVALID = 'Invalid client or Invalid client credentials'
/** What Keycloak 26.4 answers, read off the server itself (shared/PROTOCOLS.md's table, corrected where it differed). */
const CASES: Record<string, Case> = {
  'wrong-secret': { status: 401, error: 'unauthorized_client', description: INVALID, outcome: 'rejected' },
  'unknown-client': { status: 401, error: 'invalid_client', description: INVALID, outcome: 'rejected' },
  'disabled-client': { status: 401, error: 'invalid_client', description: INVALID, outcome: 'rejected' },
  'no-service-account': {
    status: 401,
    error: 'unauthorized_client',
    description: 'Client not enabled to retrieve service account',
    outcome: 'rejected',
  },
  'no-direct-grants': {
    status: 400,
    error: 'unauthorized_client',
    description: 'Client not allowed for direct access grants',
    outcome: 'rejected',
  },
  'wrong-password': { status: 401, error: 'invalid_grant', description: 'Invalid user credentials', outcome: 'rejected' },
  // PROTOCOLS.md said 400 for an unknown user: Keycloak answers exactly as for a wrong password (no user enumeration).
  'unknown-user': { status: 401, error: 'invalid_grant', description: 'Invalid user credentials', outcome: 'rejected' },
  'disabled-user': { status: 400, error: 'invalid_grant', description: 'Account disabled', outcome: 'rejected' },
  // No error_description: the body is exactly {"error":"Realm does not exist"}.
  'unknown-realm': { status: 404, error: 'Realm does not exist', outcome: 'error' },
}

interface Entry { state: string, expiresAt: string | null, lastError: Record<string, unknown> | null }

const kc = await realKeycloak(t)
if (kc) {
  t.test('every failure of the Keycloak table, for real', async (t) => {
    const realm = await kc.admin.createRealm(t, {
      realm: realmName('errors'),
      clients: [
        confidentialClient('svc', 'right-secret'),
        confidentialClient('off', 'right-secret', { enabled: false }),
        confidentialClient('no-sa', 'right-secret', { serviceAccountsEnabled: false }),
        confidentialClient('no-dag', 'right-secret', { directAccessGrantsEnabled: false }),
      ],
      users: [passwordUser('alice', 'alice-password'), passwordUser('bob', 'bob-password', { enabled: false })],
    })
    const cc = (clientId: string, clientSecret = 'right-secret', r = realm): Record<string, unknown> =>
      ({ type: 'keycloak', url: kc.root, realm: r, clientId, clientSecret })
    const pw = (clientId: string, username: string, password: string): Record<string, unknown> =>
      ({ ...cc(clientId), grant: 'password', username, password })
    const credentials: Record<string, Record<string, unknown>> = {
      'wrong-secret': cc('svc', 'wrong-secret'),
      'unknown-client': cc('nobody'),
      'disabled-client': cc('off'),
      'no-service-account': cc('no-sa'),
      'no-direct-grants': pw('no-dag', 'alice', 'alice-password'),
      'wrong-password': pw('svc', 'alice', 'not-alices-password'),
      'unknown-user': pw('svc', 'nobody', 'whatever-password'),
      'disabled-user': pw('svc', 'bob', 'bob-password'),
      'unknown-realm': cc('svc', 'right-secret', 'no-such-realm'),
    }
    const names = Object.keys(CASES)
    const up = await startUpstream()
    t.teardown(() => up.close())
    const { url, admin, logs } = await startSidecar(t, {
      credentials,
      upstreams: Object.fromEntries(names.map((n) => [n, { target: up.url, credential: n, prefix: `/${n}` }])),
    })
    let ready: Record<string, Entry> = {}
    await until(async () => {
      ready = (await (await fetch(`${admin}/readyz`)).json() as { credentials: Record<string, Entry> }).credentials
      return names.every((n) => ready[n]?.lastError !== null)
    }, 20_000, 'every credential to fail once')
    const file = join(t.testdir({}), 'tokenproxy.yaml')
    writeFileSync(file, JSON.stringify({ credentials, upstreams: { x: { target: up.url, credential: 'wrong-secret', prefix: '/x' } } }))

    for (const name of names) {
      const want = CASES[name]!
      const message = `Keycloak answered ${want.status}: ${want.error}${want.description ? `: ${want.description}` : ''}`
      t.test(name, async (t) => {
        const entry = ready[name]!
        t.equal(entry.state, 'failing', '/readyz: failing')
        t.match(entry.lastError, { outcome: want.outcome, status: want.status, error: want.error, description: want.description, message },
          '/readyz lastError')

        const res = await request(`${url}/${name}/start-bp`)
        t.equal(res.statusCode, 503)
        const problem = await res.body.json() as Record<string, unknown>
        t.match(problem, { code: 'TOKEN_UNAVAILABLE', credential: name, error: want.error, error_description: want.description },
          '503 problem body')
        t.match(problem.detail, message, 'the detail carries Keycloak\'s answer')

        const line = logs.lines.find((l) => l.credential === name && typeof l.failures === 'number')
        t.ok(line, 'a log line names the credential')
        t.equal(line?.level, want.outcome === 'rejected' ? 50 : 40,
          want.outcome === 'rejected' ? 'logged as error: rejected' : 'logged as warning')
        t.match(String(line?.msg), message)

        const err: string[] = []
        const code = await cli(['token', name, '--config', file], { out: () => {}, err: (s) => err.push(s), env: {} })
        t.equal(code, 1, '`tokenproxy token` exits 1')
        t.match(err.join('\n'), message, '`tokenproxy token` says what Keycloak answered')
      })
    }
    t.equal(up.requests.length, 0, 'nothing reached the upstream without a token')
  })
}
