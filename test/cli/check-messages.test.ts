// `tokenproxy check` messages: the file in the header, one problem per cause, the YAML error's code frame,
// ${VAR} secrets "from environment".
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { cli } from '../../src/cli.js'

const CONFIG = `credentials:
  registry:
    type: keycloak
    url: \${KC_URL}
    realm: consent-01-external-system
    clientId: test-ext
    clientSecret: \${REGISTRY_CLIENT_SECRET}
upstreams:
  registry: { target: "\${REGISTRY_URL}", credential: registry, prefix: /registry }
`

async function check (t: Test, text: string, env: NodeJS.ProcessEnv): Promise<{ code: number, out: string, err: string, file: string }> {
  const file = join(t.testdir({}), 'registry.yaml')
  writeFileSync(file, text)
  const out: string[] = []
  const err: string[] = []
  const code = await cli(['check', '--config', file], { out: (s) => out.push(s), err: (s) => err.push(s), env })
  return { code, out: out.join('\n'), err: err.join('\n'), file }
}

t.test('unset variables: one problem each, under a header naming the file', async (t) => {
  const r = await check(t, CONFIG, {})
  t.equal(r.code, 2)
  t.equal(r.err, [
    `${r.file}: invalid configuration:`,
    '  credentials.registry.url: environment variable KC_URL is not set',
    '  credentials.registry.clientSecret: environment variable REGISTRY_CLIENT_SECRET is not set',
    '  upstreams.registry.target: environment variable REGISTRY_URL is not set',
  ].join('\n'), 'nothing else: no "is required", no "needs url + realm"')
  const half = await check(t, CONFIG.replace('${KC_URL}', '${KC_URL}/auth'),
    { REGISTRY_CLIENT_SECRET: 'x', REGISTRY_URL: 'https://registry.example.org' })
  t.equal(half.err.split('\n').length, 2, 'a value that is only partly a missing variable: still the one problem')
  t.match(half.err, 'credentials.registry.url: environment variable KC_URL is not set')
})

t.test('a secret from ${VAR} is described as from the environment, not inline', async (t) => {
  const r = await check(t, CONFIG,
    { KC_URL: 'https://keycloak.example.org', REGISTRY_CLIENT_SECRET: 'env-S3cret', REGISTRY_URL: 'https://registry.example.org' })
  t.equal(r.code, 0)
  t.match(r.out, 'client test-ext (client_secret_post, secret from environment ${REGISTRY_CLIENT_SECRET})')
  t.notMatch(r.out, 'secret inline')
  t.notMatch(r.out, 'env-S3cret')
})

t.test('a YAML syntax error keeps its code frame', async (t) => {
  const r = await check(t, 'credentials:\n  registry: { type: keycloak\nupstreams: {}\n', {})
  t.equal(r.code, 2)
  const lines = r.err.split('\n')
  t.match(lines[0], `${r.file}: invalid configuration:`)
  t.match(lines[1], /^ {2}\(file\): not valid YAML: .* at line \d+, column \d+:$/)
  t.ok(lines.some((l) => /^ {4}\s*\^/.test(l)), 'the caret line under the column, indented under the problem')
  t.ok(lines.some((l) => l.includes('registry: { type: keycloak')), 'the offending line')
})
