// TLS to upstreams is verified: a self-signed upstream gets 502 UPSTREAM_UNREACHABLE, unless its CA is configured with `ca`.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { keycloakCredential } from '../helpers/proxy-fixture.js'
import { selfSigned, startHttpsEcho, type HttpsPeer } from '../helpers/tls-peers.js'
import { startSidecar, until, type Running } from '../helpers/sidecar.js'
import { startKeycloak, type KeycloakEmulator } from '../peers/keycloak-emulator.js'

async function setup (t: Test, ca?: (dir: string) => string): Promise<{ kc: KeycloakEmulator, echo: HttpsPeer, running: Running }> {
  const dir = t.testdir()
  const kc = await startKeycloak()
  t.teardown(() => kc.close())
  const echo = await startHttpsEcho(selfSigned(dir))
  t.teardown(() => echo.close())
  const running = await startSidecar(t, {
    credentials: { registry: keycloakCredential(kc) },
    upstreams: {
      secure: {
        target: `${echo.url}/base`,
        credential: 'registry',
        prefix: '/secure',
        ...(ca === undefined ? {} : { ca: { file: ca(dir) } }),
      }
    },
  })
  await until(() => running.sidecar.tokens.usable('registry') !== undefined, 5000, 'the first token')
  return { kc, echo, running }
}

t.test('a self-signed upstream is refused with 502 UPSTREAM_UNREACHABLE', async (t) => {
  const { echo, running } = await setup(t)
  const res = await request(`${running.url}/secure/x`)
  t.equal(res.statusCode, 502)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  const body = await res.body.json()
  t.match(body,
    {
      code: 'UPSTREAM_UNREACHABLE',
      status: 502,
      upstream: 'secure',
      detail: 'upstream "secure" could not be reached (DEPTH_ZERO_SELF_SIGNED_CERT)',
    })
  t.notMatch(JSON.stringify(body), /eyJ/, 'no token in the error body')
  t.equal(echo.requests.length, 0, 'the request never got past the handshake: the token was not sent')
})

t.test('a ca that did not sign the upstream certificate is refused too', async (t) => {
  const { echo, running } = await setup(t, (dir) => selfSigned(dir, 'other').certFile)
  const res = await request(`${running.url}/secure/x`)
  t.equal(res.statusCode, 502)
  t.match(await res.body.json(), { code: 'UPSTREAM_UNREACHABLE', upstream: 'secure' })
  t.equal(echo.requests.length, 0)
})

t.test('with ca set to the upstream certificate, the request is proxied with the token', async (t) => {
  const { kc, echo, running } = await setup(t, (dir) => `${dir}/server-cert.pem`)
  const res = await request(`${running.url}/secure/x?y=1`)
  t.equal(res.statusCode, 200)
  t.match(await res.body.json(), { method: 'GET', url: '/base/x?y=1', authorization: `Bearer ${kc.issued[0]}` })
  t.equal(echo.requests.length, 1)
})
