// `tokenproxy token` works for every credential type: REGARDS, and a wallet chained to a Keycloak user.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { cli } from '../../src/cli.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startRegards } from '../peers/regards-emulator.js'
import { startWallet } from '../peers/waltid-emulator.js'

async function run (argv: string[]): Promise<{ code: number, out: string }> {
  let out = ''
  const code = await cli(argv, { out: (s) => { out += s }, err: () => {}, env: {} })
  return { code, out }
}

t.test('REGARDS and a chained wallet', async (t) => {
  const kc = await startKeycloak({ clients: { 'wallet-client': { secret: 'wc' } }, users: { alice: { password: 'alice-pass' } } })
  t.teardown(() => kc.close())
  const wallet = await startWallet({ keycloak: { issuer: kc.issuer, jwksUrl: kc.jwksUrl } })
  t.teardown(() => wallet.close())
  const regards = await startRegards({ expiresIn: 43199 })
  t.teardown(() => regards.close())
  const file = join(t.testdir({}), 'seeds.yaml')
  writeFileSync(file, JSON.stringify({
    credentials: {
      regards: { type: 'regards', url: regards.root, tenant: 'project1', username: 'user@regards.fr', password: 'regards-pass' },
      kc: {
        type: 'keycloak',
        url: kc.root,
        realm: kc.realm,
        grant: 'password',
        clientId: 'wallet-client',
        clientSecret: 'wc',
        username: 'alice',
        password: 'alice-pass',
      },
      wallet: { type: 'waltid-wallet', url: wallet.root, keycloak: 'kc' },
    },
    upstreams: { w: { target: wallet.root, credential: 'wallet', prefix: '/w' } },
  }))

  const r = await run(['token', 'regards', '--config', file])
  t.equal(r.code, 0)
  t.match(r.out, /credential regards \(regards\) from .*\/api\/v1\/rs-authentication\/oauth\/token/)
  t.match(r.out, /expires_in 43199s/)
  t.match(r.out, /"tenant": "project1"/)
  t.match(r.out, /"role": "REGISTERED_USER"/)

  const w = await run(['token', 'wallet', '--config', file, '--raw'])
  t.equal(w.code, 0)
  t.equal(w.out, wallet.issued[0], '--raw prints exactly the wallet session token')
  t.same(wallet.logins.map((l) => [l.kind, l.ok]), [['token', true]], 'logged in with the Keycloak token')
  t.equal(kc.tokenRequests, 1, 'the Keycloak user token was fetched once for it')
  t.equal(wallet.logouts.length, 1, 'and the one-off session was logged out')
})
