// The image's HEALTHCHECK passes while the process lives (even with no token); compose's passes only when ready;
// both read TOKENPROXY_ADMIN_PORT.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { parseConfig } from '../../src/configuration.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startSidecar, until } from '../helpers/sidecar.js'
import { execForm, MINIMAL_CONFIG, only, runtimeStage, text, yaml } from './files.js'

const RUNTIME = runtimeStage()
const IMAGE_CHECK = execForm(only(RUNTIME, 'HEALTHCHECK').args)
const COMPOSE_CHECK = yaml('docker-compose.yml').services.tokenproxy.healthcheck.test as string[]

/** Runs a healthcheck command (exec form; `node` is the node running the tests) and resolves its exit code. */
function runCheck (command: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const [first, ...rest] = command[0] === 'CMD' ? command.slice(1) : command
  if (first !== 'node') throw new Error(`expected a node command, got ${first}`)
  const proc = spawn(process.execPath, rest, { stdio: 'ignore', env: { PATH: process.env.PATH, ...env } })
  return new Promise((resolve) => proc.on('exit', (code) => resolve(code)))
}

function portOf (url: string): string {
  return new URL(url).port
}

/** A loopback port with nothing listening on it. */
async function closedPort (): Promise<string> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address() as AddressInfo
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return String(port)
}

t.test('the image HEALTHCHECK is liveness (/healthz); compose\'s is readiness (/readyz)', async (t) => {
  t.match(only(RUNTIME, 'HEALTHCHECK').args, /--timeout=\d+s/, 'a timeout bounds it')
  t.equal(IMAGE_CHECK[0], 'node', 'no curl in the image: node runs it')
  t.match(IMAGE_CHECK.join(' '), /\/healthz/)
  t.match(COMPOSE_CHECK.join(' '), /\/readyz/)

  const kc = await startKeycloak({ clients: { good: { secret: 'good-secret' } } })
  t.teardown(() => kc.close())
  const credential = (secret: string): Record<string, unknown> => ({
    type: 'keycloak',
    url: kc.root,
    realm: kc.realm,
    clientId: 'good',
    clientSecret: secret,
  })
  const upstreams = { u: { target: 'http://127.0.0.1:9', credential: 'c', prefix: '/u' } }
  const ready = await startSidecar(t, { credentials: { c: credential('good-secret') }, upstreams })
  const rejected = await startSidecar(t, { credentials: { c: credential('wrong-secret') }, upstreams })
  await until(async () => (await fetch(`${ready.admin}/readyz`)).status === 200, 5000, 'the good credential to be ready')
  await until(() => rejected.logs.text.includes('rejected'), 5000, 'the wrong secret to be rejected')
  t.equal((await fetch(`${rejected.admin}/readyz`)).status, 503, 'no token: not ready')

  const closed = await closedPort()
  t.equal(await runCheck(IMAGE_CHECK, { TOKENPROXY_ADMIN_PORT: portOf(ready.admin) }), 0, 'image check: ready sidecar is healthy')
  t.equal(await runCheck(IMAGE_CHECK, { TOKENPROXY_ADMIN_PORT: portOf(rejected.admin) }), 0,
    'image check: alive without a token is still healthy (no restart on an IdP problem)')
  t.equal(await runCheck(IMAGE_CHECK, { TOKENPROXY_ADMIN_PORT: closed }), 1, 'image check: nothing listening is unhealthy')
  t.equal(await runCheck(COMPOSE_CHECK, { TOKENPROXY_ADMIN_PORT: portOf(ready.admin) }), 0, 'compose check: ready is healthy')
  t.equal(await runCheck(COMPOSE_CHECK, { TOKENPROXY_ADMIN_PORT: portOf(rejected.admin) }), 1, 'compose check: without a token it is not')
  t.equal(await runCheck(COMPOSE_CHECK, { TOKENPROXY_ADMIN_PORT: closed }), 1, 'compose check: nothing listening is not')
})

t.test('TOKENPROXY_ADMIN_PORT defaults to the admin port, and config/compose.yaml follows it', async (t) => {
  const env = only(RUNTIME, 'ENV').args
  const m = /TOKENPROXY_ADMIN_PORT=(\d+)/.exec(env)
  t.ok(m, 'the image sets TOKENPROXY_ADMIN_PORT')
  t.equal(Number(m?.[1]), parseConfig(MINIMAL_CONFIG, {}).admin.port, 'to tokenproxy\'s default admin port')
  for (const check of [IMAGE_CHECK, COMPOSE_CHECK]) {
    t.match(check.join(' '), /process\.env\.TOKENPROXY_ADMIN_PORT \|\| '9901'/, 'the same default when unset')
  }
  const compose = text('config/compose.yaml')
  const secrets = { REGISTRY_CLIENT_SECRET: 'x' }
  t.equal(parseConfig(compose, secrets).admin.port, Number(m?.[1]), 'the compose config uses the image\'s value by default')
  t.equal(parseConfig(compose, { ...secrets, TOKENPROXY_ADMIN_PORT: '9911' }).admin.port, 9911, 'and moves with it')
})
