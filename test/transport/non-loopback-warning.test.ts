// A listener bound to a non-loopback address logs a warning at start naming it; loopback binds log none.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { keycloakCredential } from '../helpers/proxy-fixture.js'
import { startSidecar, type Running } from '../helpers/sidecar.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'

async function start (t: Test, host: string, adminHost: string): Promise<Running> {
  const kc = await startKeycloak()
  t.teardown(() => kc.close())
  return await startSidecar(t, {
    listen: { host, port: 0 },
    admin: { host: adminHost, port: 0 },
    credentials: { registry: keycloakCredential(kc) },
    upstreams: {
      registry: { target: 'http://127.0.0.1:9', credential: 'registry', prefix: '/registry' },
      direct: { target: 'http://127.0.0.1:9', credential: 'registry', port: 0 },
    },
  })
}

const exposed = (r: Running): Array<Record<string, unknown>> => r.logs.find(/reachable from other machines/)

t.test('0.0.0.0 on the shared, dedicated and admin listeners: one warning each, naming the listener', async (t) => {
  const r = await start(t, '0.0.0.0', '0.0.0.0')
  const lines = exposed(r)
  t.same(lines.map((l) => l.listener).sort(), ['admin', 'listen', 'upstreams.direct'])
  for (const l of lines) {
    t.equal(l.level, 40, `${String(l.listener)}: warn level`)
    t.equal(l.host, '0.0.0.0')
    t.match(l.msg,
      new RegExp(`^${String(l.listener).replace('.', '\\.')} listens on 0\\.0\\.0\\.0, which is reachable from other machines`))
  }
  // Still serving (connect over loopback only).
  const port = new URL(r.addresses.admin!).port
  const res = await request(`http://127.0.0.1:${port}/healthz`)
  t.equal(res.statusCode, 200)
  await res.body.text()
})

t.test('only the admin listener exposed: only it is named', async (t) => {
  const r = await start(t, '127.0.0.1', '0.0.0.0')
  t.same(exposed(r).map((l) => l.listener), ['admin'])
})

for (const host of ['127.0.0.1', '::1', 'localhost']) {
  t.test(`${host}: no warning`, async (t) => {
    const r = await start(t, host, host)
    t.equal(r.logs.lines.filter((l) => l.level === 40 && l.listener !== undefined).length, 0, 'no warning about any listener')
    t.equal(exposed(r).length, 0)
    t.ok(r.logs.find('tokenproxy listening').length === 1, 'started')
  })
}
