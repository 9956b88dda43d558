// `tokenproxy token NAME`: fetches one real token and prints its decoded header and claims, or only the token with --raw.
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { cli } from '../../src/cli.js'
import { claimsOf, startKeycloak, type KeycloakEmulator } from '../peers/keycloak-emulator.js'
import { startRawIdp } from '../helpers/raw-idp.js'

const SECRET = 'cli-S3cret+&/%: z'

interface Run { code: number, out: string[], err: string[] }

async function run (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out: string[] = []
  const err: string[] = []
  const code = await cli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env })
  return { code, out, err }
}

function configFile (t: Test, kc: KeycloakEmulator): string {
  const dir = t.testdir({})
  const file = join(dir, 'tokenproxy.yaml')
  writeFileSync(file, JSON.stringify({
    credentials: {
      registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: SECRET },
      basic: {
        type: 'keycloak',
        url: kc.root,
        realm: kc.realm,
        clientId: 'test-ext',
        clientSecret: { env: 'KC_SECRET' },
        clientAuth: 'client_secret_basic',
      },
      wrong: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 'not-it' },
    },
    upstreams: { registry: { target: 'https://registry.example.org', credential: 'registry', prefix: '/registry' } },
  }))
  return file
}

t.test('token', async (t) => {
  const kc = await startKeycloak({ realm: 'consent-01-external-system', clients: { 'test-ext': { secret: SECRET } } })
  t.teardown(() => kc.close())
  const file = configFile(t, kc)
  const env = { KC_SECRET: SECRET }

  t.test('prints the decoded header and claims, exp as a date and the seconds left', async (t) => {
    const before = kc.issued.length
    const { code, out, err } = await run(['token', 'registry', '--config', file], env)
    t.equal(code, 0)
    t.same(err, [])
    t.equal(kc.issued.length, before + 1, 'one token obtained from the IdP')
    const token = kc.issued.at(-1)!
    const claims = claimsOf(token)
    const text = out.join('\n')
    t.match(text, `credential registry (keycloak) from ${kc.tokenUrl}`)
    t.match(text, `fingerprint ${createHash('sha256').update(token).digest('hex').slice(0, 8)}`)
    t.match(text, /^expires_in 300s$/m)
    const header = /^header (\{[\s\S]*?\n\})$/m.exec(text)
    t.ok(header, 'a header block')
    t.same(JSON.parse(header![1]!), { alg: 'RS256', typ: 'JWT', kid: kc.publicJwk.kid }, 'the decoded JOSE header')
    const claimBlock = /^claims (\{[\s\S]*?\n\})$/m.exec(text)
    t.ok(claimBlock, 'a claims block')
    const printed = JSON.parse(claimBlock![1]!) as Record<string, unknown>
    t.same(printed, claims, 'every claim, decoded')
    t.equal(printed.azp, 'test-ext')
    t.same(printed.realm_access, { roles: ['default-roles-consent-01-external-system', 'offline_access', 'uma_authorization'] })
    const exp = new RegExp(`^exp ${new Date(claims.exp! * 1000).toISOString().replaceAll('.', '\\.')} \\((\\d+)s left\\)$`, 'm').exec(text)
    t.ok(exp, 'exp as an ISO date with the seconds left')
    const left = Number(exp?.[1])
    t.ok(left > 250 && left <= 300, `${left}s left of a 300 s token`)
    t.match(text, new RegExp(`^iat ${new Date(claims.iat! * 1000).toISOString().replaceAll('.', '\\.')}$`, 'm'))
    t.notOk(text.includes(token), 'the token itself is not printed')
    t.notOk(text.includes(token.split('.')[2]!), 'nor its signature')
    t.notOk(text.includes(SECRET), 'nor the client secret')
  })

  t.test('--raw prints only the token', async (t) => {
    const { code, out, err } = await run(['token', 'basic', '--config', file, '--raw'], env)
    t.equal(code, 0)
    t.same(err, [])
    t.equal(out.length, 1, 'one write')
    t.equal(out[0], kc.issued.at(-1), 'exactly the token the IdP issued, nothing else')
    t.match(out[0], /^[\w-]+\.[\w-]+\.[\w-]+$/)
    t.ok(await kc.verify(out[0]!), 'and it verifies against the IdP key')
  })

  t.test('an unknown credential NAME: exit 2, nothing asked of the IdP', async (t) => {
    const before = kc.tokenRequests
    const { code, out, err } = await run(['token', 'nope', '--config', file], env)
    t.equal(code, 2)
    t.same(out, [])
    t.match(err.join('\n'), '"nope" is not a defined credential (defined: registry, basic, wrong)')
    t.equal(kc.tokenRequests, before)
    const noName = await run(['token', '--config', file], env)
    t.equal(noName.code, 2, 'no NAME')
    t.match(noName.err.join('\n'), 'token takes exactly one credential NAME')
    const twoNames = await run(['token', 'registry', 'basic', '--config', file], env)
    t.equal(twoNames.code, 2, 'two NAMEs')
  })

  t.test('an IdP failure: exit 1 with the reason', async (t) => {
    const rejected = await run(['token', 'wrong', '--config', file], env)
    t.equal(rejected.code, 1)
    t.same(rejected.out, [])
    t.match(rejected.err.join('\n'), 'Keycloak answered 401: unauthorized_client: Invalid client or Invalid client credentials')
    t.notOk(rejected.err.join('\n').includes('not-it'), 'the wrong secret is not echoed')

    kc.setFault({ kind: 'status', status: 502, body: '<html>Bad Gateway</html>', times: 1 })
    const down = await run(['token', 'registry', '--config', file, '--raw'], env)
    t.equal(down.code, 1)
    t.same(down.out, [], '--raw prints nothing on failure')
    t.match(down.err.join('\n'), 'Keycloak answered 502')

    kc.setFault({ kind: 'no-token', times: 1 })
    const empty = await run(['token', 'registry', '--config', file], env)
    t.equal(empty.code, 1)
    t.match(empty.err.join('\n'), 'without an access_token')
  })

  t.test('an opaque (non-JWT) token: shown as opaque, --raw still prints it', async (t) => {
    const idp = await startRawIdp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
        .end('{"access_token":"opaque-0123456789abcdef","expires_in":60,"token_type":"Bearer"}')
    })
    t.teardown(() => idp.close())
    const dir = t.testdir({})
    const opaqueFile = join(dir, 'opaque.yaml')
    writeFileSync(opaqueFile, JSON.stringify({
      credentials: { plain: { type: 'keycloak', tokenUrl: idp.tokenUrl, clientId: 'c', clientSecret: 's' } },
      upstreams: { plain: { target: 'https://registry.example.org', credential: 'plain', prefix: '/plain' } },
    }))
    const shown = await run(['token', 'plain', '--config', opaqueFile])
    t.equal(shown.code, 0)
    const text = shown.out.join('\n')
    t.match(text, 'the token is opaque (not a JWT): no header or claims to show')
    t.match(text, /^expires_in 60s$/m)
    t.notOk(/^(header|claims|exp) /m.test(text), 'no header, claims or exp lines')
    t.notOk(text.includes('opaque-0123456789abcdef'), 'the token itself is not printed')
    const raw = await run(['token', 'plain', '--config', opaqueFile, '--raw'])
    t.same(raw.out, ['opaque-0123456789abcdef'])
    t.equal(idp.requests.length, 2)
  })
})
