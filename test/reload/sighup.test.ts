// SIGHUP to the built CLI: a valid config is applied live, an invalid one is refused and the old one keeps serving.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { spawnCli } from '../helpers/cli-process.js'
import { until } from '../helpers/sidecar.js'

t.test('SIGHUP: a new route and credential live; an invalid file refused with every problem; exit code untouched', async (t) => {
  const kc = await startKeycloak({ clients: { a: { secret: 'a-secret' }, b: { secret: 'b-secret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  const cred = (id: string): Record<string, unknown> => ({
    type: 'keycloak',
    url: kc.root,
    realm: kc.realm,
    clientId: id,
    clientSecret: `${id}-secret`,
  })
  const write = (doc: Record<string, unknown>): void => {
    writeFileSync(file,
      JSON.stringify({ listen: { port: 0 }, admin: { port: 0 }, ...doc }))
  }
  write({ credentials: { a: cred('a') }, upstreams: { a: { target: up.url, credential: 'a', prefix: '/a' } } })
  const cli = await spawnCli(t, file)
  const proxy = cli.addresses.listen!
  const admin = cli.addresses.admin!
  await until(async () => (await request(`${admin}/readyz`)).statusCode === 200, 8000, 'ready')
  t.equal((await request(`${proxy}/b/x`)).statusCode, 404, 'no /b route before the reload')

  write({
    credentials: { a: cred('a'), b: cred('b') },
    upstreams: { a: { target: up.url, credential: 'a', prefix: '/a' }, b: { target: up.url, credential: 'b', prefix: '/b' } },
  })
  const tokensBefore = kc.tokenRequests
  cli.proc.kill('SIGHUP')
  await until(() => cli.logs().some((l) => l.msg === 'config reloaded'), 8000, 'the reload')
  const line = cli.logs().find((l) => l.msg === 'config reloaded')!
  t.same(line.credentials, { added: ['b'], changed: [], removed: [] }, 'the log line lists the credentials that changed')
  t.same(line.upstreams, { added: ['b'], changed: [], removed: [] }, 'and the upstreams')
  const res = await request(`${proxy}/b/x`)
  t.equal(res.statusCode, 200, 'the new route answers on the same listener')
  await res.body.dump()
  t.match(up.requests.at(-1)?.headers.authorization, /^Bearer /)
  t.equal(kc.tokenRequests - tokensBefore, 1, 'one token request: the new credential; a, unchanged, asked nothing')
  t.equal(cli.proc.exitCode, null, 'still running')

  // Invalid: an unknown credential and an unset variable. Nothing changes; every problem is logged.
  writeFileSync(file,
    JSON.stringify({
      listen: { port: 0 },
      admin: { port: 0 },
      credentials: { a: cred('a') },
      upstreams: { a: { target: '${NOT_SET_ANYWHERE}', credential: 'zzz', prefix: '/a' } },
    }))
  cli.proc.kill('SIGHUP')
  await until(() => cli.logs().some((l) => l.msg === 'config reload refused: the running config stays in effect'), 8000, 'the refusal')
  const problems = cli.logs().filter((l) => typeof l.problem === 'string').map((l) => String(l.problem))
  t.ok(problems.some((p) => p.startsWith('upstreams.a.credential:')), 'the unknown credential, with its path')
  t.ok(problems.some((p) => p.includes('NOT_SET_ANYWHERE')), 'the unset variable, with its path')
  t.ok(cli.logs().filter((l) => typeof l.problem === 'string').every((l) => l.level === 'error'), 'each at error')
  for (const prefix of ['/a', '/b']) {
    const still = await request(`${proxy}${prefix}/x`)
    t.equal(still.statusCode, 200, `${prefix} still served by the old config`)
    await still.body.dump()
  }
  const metrics = await (await request(`${admin}/metrics`)).body.text()
  t.match(metrics, /tokenproxy_config_reloads_total\{outcome="applied"\} 1\n/)
  t.match(metrics, /tokenproxy_config_reloads_total\{outcome="invalid"\} 1\n/)

  // The next valid version is applied normally: /b removed.
  write({ credentials: { a: cred('a') }, upstreams: { a: { target: up.url, credential: 'a', prefix: '/a' } } })
  cli.proc.kill('SIGHUP')
  await until(() => cli.logs().filter((l) => l.msg === 'config reloaded').length === 2, 8000, 'the second reload')
  const gone = await request(`${proxy}/b/x`)
  t.equal(gone.statusCode, 404)
  t.match(await gone.body.json(), { code: 'NO_ROUTE' }, 'a removed upstream answers NO_ROUTE')

  cli.proc.kill('SIGTERM')
  t.same(await cli.exited, { code: 0, signal: null }, 'a clean stop after all that: exit 0')
})
