// A reload changes credentials precisely: unchanged ones ask nothing, a changed secret or client id one new
// token, a removed wallet logs out.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startWallet } from '../peers/waltid-emulator.js'
import { sidecarYaml, startSidecar, until } from '../helpers/sidecar.js'

t.test('unchanged, changed secret, changed client id, removed wallet, added credential', async (t) => {
  const kc = await startKeycloak({
    clients: {
      keep: { secret: 'keep-secret' },
      rot: { secret: 'old-secret' },
      one: { secret: 'one-secret' },
      two: { secret: 'two-secret' },
    }
  })
  const slow = await startKeycloak({ clients: { late: { secret: 'late-secret' } } })
  const wallet = await startWallet()
  const up = await startUpstream()
  t.teardown(() => Promise.all([kc, slow, wallet, up].map((p) => p.close())))
  const kcCred = (clientId: string, clientSecret: string, idp = kc): Record<string, unknown> =>
    ({ type: 'keycloak', url: idp.root, realm: idp.realm, clientId, clientSecret })
  const routes = (names: string[]): Record<string, unknown> => Object.fromEntries(names.map((n) => [n,
    { target: up.url, credential: n, prefix: `/${n}` }]))
  const before = {
    credentials: {
      keep: kcCred('keep', 'keep-secret'),
      rot: kcCred('rot', 'old-secret'),
      moved: kcCred('one', 'one-secret'),
      wallet: { type: 'waltid-wallet', url: wallet.root, username: 'user', password: 'wallet-pass' },
    },
    upstreams: routes(['keep', 'rot', 'moved', 'wallet']),
  }
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  writeFileSync(file, sidecarYaml(before))
  const { admin, sidecar, logs } = await startSidecar(t, before, { configFile: file })
  await until(async () => (await request(`${admin}/readyz`)).statusCode === 200, 8000, 'ready')
  const asked = (clientId: string): number => kc.requests.filter((r) => new URLSearchParams(r.body).get('client_id') === clientId).length
  const counts = { keep: asked('keep'), rot: asked('rot'), one: asked('one'), two: asked('two') }
  t.same(counts, { keep: 1, rot: 1, one: 1, two: 0 })
  t.equal(wallet.logins.length, 1)

  kc.setClientSecret('rot', 'new-secret')
  slow.setFault({ kind: 'delay', ms: 800, times: 1 })
  writeFileSync(file, sidecarYaml({
    credentials: {
      keep: kcCred('keep', 'keep-secret'),
      rot: kcCred('rot', 'new-secret'),
      moved: kcCred('two', 'two-secret'),
      late: kcCred('late', 'late-secret', slow),
    },
    upstreams: routes(['keep', 'rot', 'moved', 'late']),
  }))
  await sidecar.reloadFile('SIGHUP')
  const line = logs.find('config reloaded')[0]!
  t.same(line.credentials, { added: ['late'], changed: ['rot', 'moved'], removed: ['wallet'] }, 'the log names what changed')
  t.notMatch(logs.text, /new-secret|two-secret|late-secret/, 'and no secret')

  // A new credential is pending until its first token, and /readyz says so at once.
  const pending = await request(`${admin}/readyz`)
  t.equal(pending.statusCode, 503)
  const body = await pending.body.json() as { credentials: Record<string, { state: string }> }
  t.equal(body.credentials.late?.state, 'pending', 'the new credential: pending')
  t.notOk('wallet' in body.credentials, 'the removed one is gone')
  const waited = await request(`${sidecar.addresses.listen}/late/x`)
  t.equal(waited.statusCode, 200, 'a request for it waits for that first fetch')
  await waited.body.dump()
  await until(async () => (await request(`${admin}/readyz`)).statusCode === 200, 8000, 'ready again')

  t.equal(asked('keep') - counts.keep, 0, 'unchanged: no token request at all')
  t.equal(asked('rot') - counts.rot, 1, 'changed secret: exactly one new token request')
  const lastRot = kc.requests.filter((r) => new URLSearchParams(r.body).get('client_id') === 'rot').at(-1)!
  t.equal(new URLSearchParams(lastRot.body).get('client_secret'), 'new-secret', 'with the new secret')
  t.equal(asked('two'), 1, 'changed client id: exactly one token request, for the new id')
  t.equal(asked('one') - counts.one, 0, 'and none for the old id')
  await until(() => wallet.logouts.length === 1, 3000, 'the wallet logout')
  t.equal(wallet.logouts.length, 1, 'the removed wallet credential logged out')
  const old = await request(`${sidecar.addresses.listen}/wallet/x`)
  t.equal(old.statusCode, 404, 'its route is gone')
  await old.body.dump()
})
