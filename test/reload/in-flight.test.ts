// A reload with 50 requests in flight, slow ones included: every one finishes on the route it started on; new requests see the new config.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Agent, request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { sidecarYaml, startSidecar, until } from '../helpers/sidecar.js'

const IN_FLIGHT = 50

t.test('50 in flight across a reload: none lost, none cut', async (t) => {
  const kc = await startKeycloak({ clients: { app: { secret: 'app-secret' } } })
  const slow = await startUpstream()
  const fast = await startUpstream()
  const next = await startUpstream()
  t.teardown(() => Promise.all([kc, slow, fast, next].map((p) => p.close())))
  slow.setMode({ kind: 'delay-headers', ms: 1500 })
  const cred = { app: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'app', clientSecret: 'app-secret' } }
  const before = {
    credentials: cred,
    upstreams: {
      slow: { target: slow.url, credential: 'app', prefix: '/slow' },
      app: { target: fast.url, credential: 'app', prefix: '/app' },
    },
  }
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  writeFileSync(file, sidecarYaml(before))
  const { url, sidecar } = await startSidecar(t, before, { configFile: file })
  await until(() => sidecar.tokens.usable('app') !== undefined, 5000, 'a token')
  // One connection per request, so that a closed socket would show as a lost request.
  const agent = new Agent({ connections: IN_FLIGHT * 2, pipelining: 0 })
  t.teardown(() => agent.close())
  const send = async (path: string): Promise<number | string> => {
    try {
      const res = await request(`${url}${path}`, { dispatcher: agent })
      await res.body.dump()
      return res.statusCode
    } catch (err) {
      return (err as Error).message
    }
  }
  const slowOnes = Array.from({ length: IN_FLIGHT / 2 }, async () => await send('/slow/x'))
  await until(() => slow.requests.length === IN_FLIGHT / 2, 5000, 'every slow request upstream')
  // The fast half keeps arriving while the reload happens.
  const fastOnes = Array.from({ length: IN_FLIGHT / 2 }, async (_, i) => {
    await new Promise((resolve) => setTimeout(resolve, i * 10))
    return await send('/app/x')
  })
  writeFileSync(file, sidecarYaml({ credentials: cred, upstreams: { app: { target: next.url, credential: 'app', prefix: '/app' } } }))
  const reloadedAt = Date.now()
  await sidecar.reloadFile('SIGHUP')
  const results = await Promise.all([...slowOnes, ...fastOnes])
  t.same(results.filter((r) => r !== 200), [], `all ${IN_FLIGHT} answered 200`)
  t.ok(Date.now() - reloadedAt >= 1000, 'the slow ones really were in flight across the reload')
  t.equal(slow.requests.filter((r) => r.complete).length, IN_FLIGHT / 2, 'the removed route finished what it had started')
  t.ok(fast.requests.length + next.requests.length === IN_FLIGHT / 2, 'every fast request reached one of the two targets')

  const gone = await request(`${url}/slow/x`)
  t.equal(gone.statusCode, 404)
  t.match(await gone.body.json(), { code: 'NO_ROUTE' }, 'the removed route answers NO_ROUTE now')
  const after = next.requests.length
  t.equal(await send('/app/x'), 200)
  t.equal(next.requests.length, after + 1, 'new requests go to the new target')
  t.equal(kc.tokenRequests, 1, 'the unchanged credential asked nothing')
})
