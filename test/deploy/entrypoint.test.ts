// The image's ENTRYPOINT + CMD are the CLI's `node dist/cli.js run --config FILE`: run exactly so, it serves and injects tokens.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { until } from '../helpers/sidecar.js'
import { execForm, imageTree, only, runtimeStage, text } from './files.js'

const RUNTIME = runtimeStage()
const ENTRYPOINT = execForm(only(RUNTIME, 'ENTRYPOINT').args)
const CMD = execForm(only(RUNTIME, 'CMD').args)
const PKG = JSON.parse(text('package.json')) as { bin: Record<string, string> }

t.test('ENTRYPOINT is node on the package\'s bin, CMD is `run --config` on the mounted config', async (t) => {
  t.same(ENTRYPOINT, ['node', 'dist/cli.js'])
  t.equal(only(RUNTIME, 'WORKDIR').args, '/app', 'dist/cli.js resolves against WORKDIR /app')
  t.ok(RUNTIME.some((i) => i.keyword === 'COPY' && /\/app\/dist\/cli\.js \.\/dist\/cli\.js$/.test(i.args)), 'which holds the bundled CLI')
  t.equal(PKG.bin.tokenproxy!.replace(/^\.\//, ''), ENTRYPOINT[1], 'the same file as `tokenproxy` installed from npm')
  t.same(CMD, ['run', '--config', '/etc/tokenproxy/config.yaml'])
})

t.test('`node dist/cli.js` + CMD, in the image\'s file tree (no node_modules), serves with the token injected', async (t) => {
  const kc = await startKeycloak({ realm: 'consent-01-external-system', clients: { 'test-ext': { secret: 'entry-s3cret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const file = join(t.testdir({}), 'config.yaml')
  writeFileSync(file, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 'entry-s3cret' } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
  }))
  const args = CMD.map((a) => (a === '/etc/tokenproxy/config.yaml' ? file : a))
  t.not(args.join(' '), CMD.join(' '), 'the config path was mapped')
  // ENTRYPOINT[0] is `node` on the image's PATH; here, the node running the tests.
  // Under the system temp dir, not the repository: no node_modules in any parent either.
  const app = imageTree(mkdtempSync(join(tmpdir(), 'tokenproxy-image-')))
  t.teardown(() => rmSync(app, { recursive: true, force: true }))
  t.notOk(existsSync(join(app, 'node_modules')), 'no node_modules next to the bundle')
  t.ok(existsSync(join(app, 'dist/cli.js')) && existsSync(join(app, 'package.json')) && existsSync(join(app, 'config/registry.yaml')),
    'the bundle, package.json and the example configs')
  const proc = spawn(process.execPath, [ENTRYPOINT[1]!, ...args],
    { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TOKENPROXY_CONFIG: '' } })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  let out = ''
  proc.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  const listening = (): Record<string, string> | undefined => {
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue
      const l = JSON.parse(line) as { msg?: string, addresses?: Record<string, string> }
      if (l.msg === 'tokenproxy listening') return l.addresses
    }
    return undefined
  }
  await until(() => listening() !== undefined, 8000, 'the CLI to listen')
  const { listen, admin } = listening()!
  const health = await request(`${admin}/healthz`)
  t.equal(health.statusCode, 200)
  t.same(await health.body.json(), { status: 'ok' })
  const res = await request(`${listen}/registry/start-bp`)
  t.equal(res.statusCode, 200)
  const echoed = await res.body.json() as { url: string, authorization: string }
  t.equal(echoed.url, '/start-bp')
  t.ok(kc.issued.includes(echoed.authorization.replace(/^Bearer /, '')), 'the IdP\'s token was injected')
  proc.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM (docker stop) is a clean exit')
})
