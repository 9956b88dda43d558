// A reload opens a new dedicated port, moves one, and closes a removed one; the shared listener keeps its sockets throughout.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Agent, request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { freePort } from '../peers/peer-kit.js'
import { startUpstream } from '../peers/upstream.js'
import { sidecarYaml, startSidecar, until } from '../helpers/sidecar.js'

t.test('dedicated ports follow the config; the shared listener\'s keep-alive connection survives', async (t) => {
  const kc = await startKeycloak({ clients: { app: { secret: 'app-secret' } } })
  const up = await startUpstream()
  t.teardown(() => Promise.all([kc.close(), up.close()]))
  const [p1, p2] = [await freePort(), await freePort()]
  const credentials = { app: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'app', clientSecret: 'app-secret' } }
  const shared = { target: up.url, credential: 'app', prefix: '/app' }
  const doc = (port?: number): Record<string, unknown> => ({
    credentials,
    upstreams: { app: shared, ...(port === undefined ? {} : { direct: { target: up.url, credential: 'app', port } }) },
  })
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  writeFileSync(file, sidecarYaml(doc()))
  const { url, sidecar } = await startSidecar(t, doc(), { configFile: file })
  // One keep-alive connection to the shared listener, used before and after every reload.
  const agent = new Agent({ connections: 1 })
  t.teardown(() => agent.close())
  const sockets = new Set<unknown>()
  sidecar.listeners.find((l) => l.name === 'listen')!.server.on('connection', (s) => sockets.add(s))
  const shared200 = async (): Promise<void> => {
    const res = await request(`${url}/app/x`, { dispatcher: agent })
    t.equal(res.statusCode, 200)
    await res.body.dump()
  }
  const direct = async (port: number): Promise<number | string> => {
    try {
      const res = await request(`http://127.0.0.1:${port}/x`, { headersTimeout: 2000 })
      await res.body.dump()
      return res.statusCode
    } catch (err) {
      return (err as { code?: string }).code ?? String(err)
    }
  }
  await shared200()
  t.equal(await direct(p1), 'ECONNREFUSED', 'no dedicated port yet')

  const step = async (port?: number): Promise<void> => {
    writeFileSync(file, sidecarYaml(doc(port)))
    await sidecar.reloadFile('SIGHUP')
    await shared200()
  }
  await step(p1)
  t.equal(await direct(p1), 200, 'a new dedicated port listens after the reload')
  t.equal(sidecar.addresses['upstreams.direct'], `http://127.0.0.1:${p1}`)
  await step(p2)
  await until(async () => await direct(p1) === 'ECONNREFUSED', 3000, 'the old port to close')
  t.equal(await direct(p2), 200, 'moved: the new port answers, the old one is closed')
  await step()
  await until(async () => await direct(p2) === 'ECONNREFUSED', 3000, 'the removed port to close')
  t.notOk('upstreams.direct' in sidecar.addresses, 'and is no longer listed')
  t.equal(sockets.size, 1, 'the shared listener served all of it on one connection: no socket closed by a reload')
})
