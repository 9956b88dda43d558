// TLS to identity services is verified: a self-signed token endpoint is refused, unless its CA is configured with `ca`.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startUpstream, type Upstream } from '../peers/upstream.js'
import { selfSigned, startHttpsIdp, type HttpsPeer } from '../helpers/tls-peers.js'
import { startSidecar, until, type Running } from '../helpers/sidecar.js'

/** One credential of each type, all pointing at the https peer (which answers every type's shape). */
function credentialOf (type: string, idp: HttpsPeer, ca?: string): Record<string, unknown> {
  const trust = ca === undefined ? {} : { ca: { file: ca } }
  switch (type) {
    case 'keycloak': return {
      type,
      tokenUrl: `${idp.url}/realms/r/protocol/openid-connect/token`,
      clientId: 'test-client',
      clientSecret: 'test-secret',
      ...trust,
    }
    case 'regards': return { type, url: idp.url, tenant: 'project1', username: 'user@regards.fr', password: 'pw', ...trust }
    default: return { type, url: idp.url, username: 'user', password: 'pw', ...trust }
  }
}

async function setup (t: Test, type: string, ca?: (dir: string) => string): Promise<{ idp: HttpsPeer, up: Upstream, running: Running }> {
  const dir = t.testdir()
  const idp = await startHttpsIdp(selfSigned(dir))
  t.teardown(() => idp.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const running = await startSidecar(t, {
    credentials: { registry: credentialOf(type, idp, ca?.(dir)) },
    upstreams: { api: { target: up.url, credential: 'registry', prefix: '/api' } },
  })
  return { idp, up, running }
}

interface Readyz { credentials: { registry: { state: string, lastError: { message: string, error: string, outcome: string } | null } } }

t.test('a self-signed identity service is refused: TOKEN_UNAVAILABLE, lastError names the certificate', async (t) => {
  const { idp, up, running } = await setup(t, 'keycloak')
  const failed = (): boolean => running.logs.lines.some((l) => l.credential === 'registry' && l.outcome === 'error')
  await until(failed, 5000, 'a failed token request')
  const ready = await request(`${running.admin}/readyz`)
  t.equal(ready.statusCode, 503)
  const { registry } = (await ready.body.json() as Readyz).credentials
  t.equal(registry.state, 'failing')
  t.match(registry.lastError, { outcome: 'error', error: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  t.match(registry.lastError?.message,
    /TLS certificate of 127\.0\.0\.1:\d+ not trusted: DEPTH_ZERO_SELF_SIGNED_CERT \(self-signed certificate\)/)
  t.match(registry.lastError?.message, /ca: \{ file: PATH \}/, 'says how to trust a private CA')

  const res = await request(`${running.url}/api/x`)
  t.equal(res.statusCode, 503)
  t.match(await res.body.json(), { code: 'TOKEN_UNAVAILABLE', credential: 'registry', detail: /certificate/ })
  t.equal(idp.requests.length, 0, 'no token request got past the handshake')
  t.equal(up.requests.length, 0, 'nothing forwarded')
  t.equal(running.sidecar.tokens.usable('registry'), undefined)
})

t.test('a ca that is not the one that signed the certificate is refused too', async (t) => {
  const { idp, running } = await setup(t, 'keycloak', (dir) => selfSigned(dir, 'other').certFile)
  await until(() => running.logs.lines.some((l) => l.credential === 'registry' && l.outcome === 'error'), 5000, 'a failed token request')
  const { registry } = (await (await request(`${running.admin}/readyz`)).body.json() as Readyz).credentials
  t.match(registry.lastError, { outcome: 'error', error: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'verification still on with a ca set')
  t.equal(idp.requests.length, 0)
})

for (const type of ['keycloak', 'regards', 'waltid-wallet']) {
  t.test(`${type}: with ca set to the server's certificate, the token is fetched and injected`, async (t) => {
    const { idp, up, running } = await setup(t, type, (dir) => `${dir}/server-cert.pem`)
    await until(() => running.sidecar.tokens.usable('registry') !== undefined, 5000, 'a token over https')
    t.equal(idp.requests.length, 1, 'one token request over TLS')
    const res = await request(`${running.url}/api/x`)
    t.equal(res.statusCode, 200)
    await res.body.text()
    t.equal(up.requests[0]?.headers.authorization, `Bearer ${idp.issued[0]}`)
    const { registry } = (await (await request(`${running.admin}/readyz`)).body.json() as Readyz).credentials
    t.match(registry, { state: 'valid', lastError: null })
  })
}
