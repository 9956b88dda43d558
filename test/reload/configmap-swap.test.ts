// A ConfigMap update (the kubelet's atomic `..data` symlink swap) reaches the running sidecar on the file tick, with no signal.
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { sidecarYaml, startSidecar, until } from '../helpers/sidecar.js'

const POLL_MS = 100

t.test('a swapped ..data directory is read as a new config; the same contents again change nothing', async (t) => {
  const kc = await startKeycloak({ clients: { app: { secret: 'app-secret' } } })
  t.teardown(() => kc.close())
  const [one, two] = [await startUpstream(), await startUpstream()]
  t.teardown(() => Promise.all([one.close(), two.close()]))
  // The volume layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>.
  const dir = t.testdir({})
  let version = 0
  const publish = (doc: Record<string, unknown>): void => {
    const v = `..2026_12_01_${++version}`
    mkdirSync(join(dir, v))
    writeFileSync(join(dir, v, 'config.yaml'), sidecarYaml(doc))
    symlinkSync(v, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  }
  const doc = (target: string): Record<string, unknown> => ({
    credentials: { app: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'app', clientSecret: 'app-secret' } },
    upstreams: { app: { target, credential: 'app', prefix: '/app' } },
  })
  publish(doc(one.url))
  const file = join(dir, 'config.yaml')
  symlinkSync(join('..data', 'config.yaml'), file)
  const { url, logs, sidecar } = await startSidecar(t, doc(one.url), { configFile: file, secretPollMs: POLL_MS })
  const ok = await request(`${url}/app/x`)
  t.equal(ok.statusCode, 200)
  await ok.body.dump()
  t.equal(one.requests.length, 1, 'the first target answers')

  const changedAt = Date.now()
  publish(doc(two.url))
  await until(async () => {
    const res = await request(`${url}/app/x`)
    await res.body.dump()
    return two.requests.length > 0
  }, 5000, 'the new target')
  t.comment(`file change to the new target answering: ${Date.now() - changedAt} ms (tick ${POLL_MS} ms)`)
  t.same(logs.find('config reloaded').map((l) => l.upstreams), [{ added: [], changed: ['app'], removed: [] }],
    'one reload: the upstream changed')
  t.equal(kc.tokenRequests, 1, 'the unchanged credential kept its token')

  // Same contents in a new directory (kubelet resyncs): not a change.
  publish(doc(two.url))
  await new Promise((resolve) => setTimeout(resolve, POLL_MS * 4))
  t.equal(logs.find('config reloaded').length, 1, 'identical contents: no reload')
  const metric = await sidecar.metrics.registry.getSingleMetricAsString('tokenproxy_config_reloads_total')
  t.match(metric, /outcome="applied"\} 1\n/)
})
