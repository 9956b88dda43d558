// Our Keycloak emulator answers as the real server does: the same requests to both, compared (status, error body, headers, fields, claims).
import t from 'tap'
import { decodeJwt } from 'jose'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { confidentialClient, passwordUser, realKeycloak, realmName, tokenSeen } from '../peers/keycloak-server.js'

interface Probe {
  label: string
  form?: Record<string, string>
  headers?: Record<string, string>
  body?: string
  realm?: string
  path?: string
  method?: string
}

/** What is compared of one answer: never the token values, only their shape. */
interface Shape {
  status: number
  cacheControl: string | null
  pragma: string | null
  type: string | null
  body: unknown
  claims?: string[]
  refreshClaims?: string[]
}

const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`
const cc = (clientId: string, clientSecret: string): Record<string, string> => ({
  grant_type: 'client_credentials',
  client_id: clientId,
  client_secret: clientSecret,
})
const pw = (username: string, password: string, clientId = 'svc'): Record<string, string> =>
  ({ grant_type: 'password', client_id: clientId, client_secret: 'right', username, password })

const PROBES: Probe[] = [
  { label: 'client_credentials', form: cc('svc', 'right') },
  { label: 'client_secret_basic', form: { grant_type: 'client_credentials' }, headers: { authorization: basic('svc', 'right') } },
  {
    label: 'form values win over the Basic header',
    form: { grant_type: 'client_credentials', client_secret: 'right' },
    headers: { authorization: basic('svc', 'wrong') },
  },
  { label: 'an unreadable Basic header', form: { grant_type: 'client_credentials' }, headers: { authorization: 'Basic !!!' } },
  {
    label: 'a Basic secret with a bad %-escape (not form-encoded)',
    form: { grant_type: 'client_credentials' },
    headers: { authorization: basic('svc', '100%') },
  },
  { label: 'wrong secret', form: cc('svc', 'wrong') },
  { label: 'unknown client', form: cc('nobody', 'x') },
  { label: 'disabled client', form: cc('off', 'right') },
  { label: 'service accounts off', form: cc('nosa', 'right') },
  { label: 'unknown grant_type', form: { ...cc('svc', 'right'), grant_type: 'foo' } },
  { label: 'no grant_type', form: { client_id: 'svc', client_secret: 'right' } },
  { label: 'a JSON body', body: JSON.stringify(cc('svc', 'right')), headers: { 'content-type': 'application/json' } },
  { label: 'password grant', form: pw('alice', 'alice-pw') },
  { label: 'wrong password', form: pw('alice', 'bad') },
  { label: 'unknown user', form: pw('nobody', 'bad') },
  { label: 'disabled user', form: pw('bob', 'bob-pw') },
  { label: 'direct access grants off', form: pw('alice', 'alice-pw', 'nodag') },
  {
    label: 'an unknown refresh token',
    form: { grant_type: 'refresh_token', client_id: 'svc', client_secret: 'right', refresh_token: 'not-a-token' },
  },
  { label: 'unknown realm', form: cc('svc', 'right'), realm: 'no-such-realm' },
  { label: 'the /auth root on a server without it', form: cc('svc', 'right'), path: '/auth' },
  { label: 'GET on the token endpoint', method: 'GET' },
]

async function shape (root: string, realm: string, p: Probe): Promise<Shape> {
  const url = `${root}${p.path ?? ''}/realms/${p.realm ?? realm}/protocol/openid-connect/token`
  const method = p.method ?? 'POST'
  const res = await fetch(url, {
    method,
    headers: method === 'GET' ? {} : { 'content-type': 'application/x-www-form-urlencoded', ...p.headers },
    body: method === 'GET' ? undefined : (p.body ?? new URLSearchParams(p.form)),
  })
  const text = await res.text()
  let body: unknown = text
  let claims: string[] | undefined
  let refreshClaims: string[] | undefined
  try {
    const json = JSON.parse(text) as Record<string, unknown>
    if (typeof json.access_token === 'string') {
      claims = Object.keys(decodeJwt(tokenSeen(json.access_token))).sort()
      if (typeof json.refresh_token === 'string') refreshClaims = Object.keys(decodeJwt(tokenSeen(json.refresh_token))).sort()
      // Values that differ by nature (tokens, ids, lifetimes set per realm) are compared by type.
      // Keycloak lists the scopes in no fixed order, and computes expires_in as exp - now: 299 when
      // the answer crosses a second boundary.
      const normal = (k: string, v: unknown): unknown => {
        if (/token$|session_state/.test(k)) return typeof v
        if (k === 'scope') return String(v).split(' ').sort().join(' ')
        if (k === 'expires_in' && typeof v === 'number') return Math.round(v / 10) * 10
        return v
      }
      body = Object.fromEntries(Object.entries(json).map(([k, v]) => [k, normal(k, v)]))
    } else {
      body = json
    }
  } catch { /* not JSON: compared as text */ }
  return {
    status: res.status,
    cacheControl: res.headers.get('cache-control'),
    pragma: res.headers.get('pragma'),
    type: res.headers.get('content-type'),
    body,
    claims,
    refreshClaims,
  }
}

const kc = await realKeycloak(t)
if (kc) {
  t.test('the emulator gives the real server\'s answer to every probe', async (t) => {
    const realm = await kc.admin.createRealm(t, {
      realm: realmName('parity'),
      accessTokenLifespan: 300,
      clients: [
        confidentialClient('svc', 'right'),
        confidentialClient('off', 'right', { enabled: false }),
        confidentialClient('nosa', 'right', { serviceAccountsEnabled: false }),
        confidentialClient('nodag', 'right', { directAccessGrantsEnabled: false }),
      ],
      users: [passwordUser('alice', 'alice-pw'), passwordUser('bob', 'bob-pw', { enabled: false })],
    })
    const emu = await startKeycloak({
      realm,
      clients: {
        svc: { secret: 'right' },
        off: { secret: 'right', enabled: false },
        nosa: { secret: 'right', serviceAccounts: false },
        nodag: { secret: 'right', directAccessGrants: false },
      },
      users: {
        alice: { password: 'alice-pw', firstName: 'alice', lastName: 'Test', email: 'alice@example.org' },
        bob: { password: 'bob-pw', enabled: false },
      },
    })
    t.teardown(() => emu.close())
    for (const p of PROBES) {
      const real = await shape(kc.root, realm, p)
      const ours = await shape(emu.root, realm, p)
      t.same(ours, real, p.label)
    }
  })
}
