// `tokenproxy token NAME` failures: one message naming the credential and the URL, the README's hint, exit 1, never a stack.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { cli } from '../../src/cli.js'
import { HINTS } from '../../src/commands/token-hints.js'
import { startRawIdp } from '../helpers/raw-idp.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'

interface Run { code: number, out: string[], err: string }

async function run (argv: string[]): Promise<Run> {
  const out: string[] = []
  const err: string[] = []
  const code = await cli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env: {} })
  return { code, out, err: err.join('\n') }
}

function configWith (t: Test, credential: Record<string, unknown>): string {
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  writeFileSync(file, JSON.stringify({
    credentials: { registry: { type: 'keycloak', clientId: 'test-ext', clientSecret: 's3cret', ...credential } },
    upstreams: { registry: { target: 'https://registry.example.org', credential: 'registry', prefix: '/registry' } },
  }))
  return file
}

function assertOneMessage (t: Test, r: Run, url: string): void {
  t.equal(r.code, 1, 'exit 1')
  t.same(r.out, [], 'nothing on stdout')
  t.match(r.err, `tokenproxy: credential "registry": token request to ${url} failed: `, 'names the credential and the URL')
  t.notMatch(r.err, /^\s+at /m, 'no stack trace')
  t.notMatch(r.err, /TypeError|DOMException/, 'no JavaScript error names')
}

t.test('a token endpoint that accepts and never answers: the timeout, not a TypeError', async (t) => {
  const idp = await startRawIdp(() => { /* never answers */ })
  t.teardown(() => idp.close())
  const r = await run(['token', 'registry', '--config', configWith(t, { tokenUrl: idp.tokenUrl, timeout: 0.2 })])
  assertOneMessage(t, r, idp.tokenUrl)
  t.match(r.err, 'no answer within 0.2s (credentials.registry.timeout)')
  t.match(r.err, /what to check: .*raise the credential's `timeout`/)
  t.equal(idp.requests.length, 1)
})

t.test('nothing listens at the token URL', async (t) => {
  const idp = await startRawIdp(() => {})
  await idp.close()
  const r = await run(['token', 'registry', '--config', configWith(t, { tokenUrl: idp.tokenUrl })])
  assertOneMessage(t, r, idp.tokenUrl)
  t.match(r.err, 'identity service unreachable: ECONNREFUSED')
  t.match(r.err, 'what to check: check the `url`: scheme, host and port')
})

t.test('Realm does not exist: at which URL, and what to check', async (t) => {
  const kc = await startKeycloak({ realm: 'consent-01-external-system', clients: { 'test-ext': { secret: 's3cret' } } })
  t.teardown(() => kc.close())
  const r = await run(['token', 'registry', '--config', configWith(t, { url: kc.root, realm: 'Consent-01-External-System' })])
  assertOneMessage(t, r, `${kc.root}/realms/Consent-01-External-System/protocol/openid-connect/token`)
  t.match(r.err, 'Keycloak answered 404: Realm does not exist')
  t.match(r.err, 'what to check: the realm name as in the admin console\'s realm list')

  const wrong = await run(['token', 'registry', '--config', configWith(t, { url: kc.root, realm: kc.realm, clientSecret: 'not-it' })])
  assertOneMessage(t, wrong, kc.tokenUrl)
  t.match(wrong.err, 'what to check: copy the secret from the client\'s Credentials tab')
  t.notMatch(wrong.err, 'not-it', 'the wrong secret is not echoed')
})

t.test('every hint is the README Troubleshooting table\'s own advice', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const table = readme.slice(readme.indexOf('## Troubleshooting'), readme.indexOf('\n## ', readme.indexOf('## Troubleshooting') + 5))
  for (const h of HINTS) t.ok(table.includes(`| ${h.fix} |`), `README has the row: ${h.fix}`)
})
