// A token's expiry is the earlier of expires_in (from receipt) and the JWT exp; non-JWT tokens use expires_in.
import { createHash } from 'node:crypto'
import { decodeJwt } from 'jose'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { DEFAULT_LIFETIME_S, describeToken } from '../../src/tokens/lifetime.js'
import { startUpstream, type Upstream } from '../peers/upstream.js'
import { signJwt, startScriptedIdp, type Script, type ScriptedIdp } from '../helpers/scripted-idp.js'
import { startSidecar, until, type Running } from '../helpers/sidecar.js'

const nowS = (): number => Math.floor(Date.now() / 1000)

async function setup (t: Test, script: Script,
  refresh: Record<string, number> = {}): Promise<{ idp: ScriptedIdp, up: Upstream, running: Running, readyAt: number }> {
  const idp = await startScriptedIdp(script)
  t.teardown(() => idp.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const running = await startSidecar(t, {
    refresh: { minValidity: 0.5, ...refresh },
    credentials: { svc: { type: 'keycloak', tokenUrl: idp.tokenUrl, clientId: 'c', clientSecret: 's' } },
    upstreams: { api: { target: up.url, credential: 'svc', prefix: '/api' } },
  })
  await until(() => running.logs.find('token obtained').length === 1, 3000, 'the first token')
  return { idp, up, running, readyAt: Date.now() }
}

async function expiresAtMs (admin: string): Promise<number> {
  const res = await request(`${admin}/readyz`)
  const body = await res.body.json() as { credentials: { svc: { state: string, expiresAt: string } } }
  const iso = body.credentials.svc.expiresAt
  if (new Date(iso).toISOString() !== iso) throw new Error(`expiresAt is not ISO 8601: ${iso}`)
  return Date.parse(iso)
}

t.test('expires_in shorter than the JWT exp: expires_in rules', async (t) => {
  const token = await signJwt({ sub: 'svc', azp: 'c', exp: nowS() + 3600 })
  const { idp, running, readyAt } = await setup(t, () => ({ body: { access_token: token, token_type: 'Bearer', expires_in: 30 } }))
  const at = await expiresAtMs(running.admin)
  t.ok(at >= idp.requests[0]!.answeredAt! + 30_000 && at <= readyAt + 30_000, 'expiresAt = receipt + 30 s, not exp (+1 h)')
  t.match(running.logs.find('token obtained')[0], { expirySource: 'expires_in', lifetimeS: 30, exp: decodeJwt(token).exp })
  const metrics = await (await request(`${running.admin}/metrics`)).body.text()
  const gauge = /^tokenproxy_token_expiry_timestamp_seconds\{credential="svc"\} ([\d.]+)$/m.exec(metrics)
  t.equal(Number(gauge?.[1]), at / 1000, 'the expiry gauge agrees')
})

t.test('a JWT exp earlier than expires_in: exp rules, and the refresh follows it', async (t) => {
  // exp 3 s from now (2-3 s of life) although expires_in says one hour.
  let exp = 0
  const { idp, running } = await setup(t, async (n) => {
    exp = nowS() + 3
    return { body: { access_token: await signJwt({ sub: 'svc', exp, n }), token_type: 'Bearer', expires_in: 3600 } }
  })
  const firstExp = exp
  t.equal(await expiresAtMs(running.admin), firstExp * 1000, 'expiresAt is exactly the exp claim')
  t.match(running.logs.find('token obtained')[0], { expirySource: 'exp', exp: firstExp })
  await until(() => idp.requests.length === 2, 4000, 'a refresh before exp')
  t.ok(idp.requests[1]!.time < firstExp * 1000 - 500, 'refreshed before the token came within minValidity of its exp, not after an hour')
})

t.test('a JWT without expires_in: exp rules', async (t) => {
  const exp = nowS() + 600
  const token = await signJwt({ sub: 'svc', exp })
  const { running } = await setup(t, () => ({ body: { access_token: token, token_type: 'Bearer' } }))
  t.equal(await expiresAtMs(running.admin), exp * 1000)
  t.match(running.logs.find('token obtained')[0], { expirySource: 'exp' })
})

t.test('an opaque (non-JWT) token uses expires_in and is injected as is', async (t) => {
  const { idp, up, running, readyAt } = await setup(t,
    (n) => ({ body: { access_token: `opaque-token-${n}`, token_type: 'bearer', expires_in: 40 } }))
  const at = await expiresAtMs(running.admin)
  t.ok(at >= idp.requests[0]!.answeredAt! + 40_000 && at <= readyAt + 40_000, 'expiresAt = receipt + 40 s')
  t.match(running.logs.find('token obtained')[0], { expirySource: 'expires_in', lifetimeS: 40 })
  const res = await request(`${running.url}/api/x`)
  t.equal(res.statusCode, 200)
  await res.body.text()
  t.equal(up.requests[0]!.headers.authorization, 'Bearer opaque-token-1')
})

t.test('describeToken (unit)', async (t) => {
  const received = 1_000_000 // ms
  const jwt = await signJwt({ exp: 1100, azp: 'client-a', jti: 'j-1', iss: 'https://idp/realms/r', sub: 'u' })
  t.match(describeToken(jwt, 50, received), { expiresAt: 1_050_000, expirySource: 'expires_in', receivedAt: received },
    'expires_in earlier')
  t.match(describeToken(jwt, 200, received), { expiresAt: 1_100_000, expirySource: 'exp' }, 'exp earlier')
  t.match(describeToken(jwt, 100, received), { expiresAt: 1_100_000 }, 'equal: either gives the same instant')
  t.match(describeToken(jwt, undefined, received), { expiresAt: 1_100_000, expirySource: 'exp' }, 'no expires_in')
  t.match(describeToken('opaque', 50, received), { expiresAt: 1_050_000, expirySource: 'expires_in', claims: {} }, 'opaque token')
  t.match(describeToken('a.b.c', 50, received), { expiresAt: 1_050_000, expirySource: 'expires_in', claims: {} },
    'three dots but not a JWT: opaque')
  t.match(describeToken('opaque', undefined, received), { expiresAt: received + DEFAULT_LIFETIME_S * 1000, expirySource: 'default' },
    'nothing known: the default lifetime')
  const oddExp = await signJwt({ exp: 'soon' as unknown as number })
  t.match(describeToken(oddExp, 50, received), { expiresAt: 1_050_000, expirySource: 'expires_in' }, 'a non-numeric exp is ignored')
  const info = describeToken(jwt, 50, received)
  t.same(info.claims, { exp: 1100, azp: 'client-a', jti: 'j-1', iss: 'https://idp/realms/r', sub: 'u' }, 'loggable claims')
  t.equal(info.fingerprint, createHash('sha256').update(jwt).digest('hex').slice(0, 8), 'fingerprint: first 8 hex of SHA-256')
  t.equal(info.token, jwt)
})
