// log.format: JSON lines with `level` as a label by default, pretty lines (pino-pretty, loaded only then) in a terminal or
// when asked, from the bundle too.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { logFormat } from '../../src/observability/logger.js'
import { imageTree } from '../deploy/files.js'
import { until } from '../helpers/sidecar.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'

t.test('the default: pretty on a terminal, JSON elsewhere; log.format wins', async (t) => {
  t.equal(logFormat(undefined, true), 'pretty')
  t.equal(logFormat(undefined, false), 'json')
  t.equal(logFormat(undefined, undefined), 'json', 'stdout is not a stream Node knows as a TTY')
  t.equal(logFormat('json', true), 'json')
  t.equal(logFormat('pretty', false), 'pretty')
})

/** Runs the bundle from a copy of the image's files (no node_modules anywhere above), with `log` set. */
async function runBundle (t: Test,
  log: Record<string, unknown>): Promise<{ out: () => string, stop: () => Promise<number | null>, kc: { issued: string[] } }> {
  const kc = await startKeycloak({ clients: { 'test-ext': { secret: 's3cret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const file = join(t.testdir({}), 'config.yaml')
  writeFileSync(file, JSON.stringify({
    log,
    listen: { port: 0 },
    admin: { port: 0 },
    credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
  }))
  const app = imageTree(mkdtempSync(join(tmpdir(), 'tokenproxy-image-')))
  t.teardown(() => rmSync(app, { recursive: true, force: true }))
  const proc = spawn(process.execPath, ['dist/cli.js', 'run', '--config', file],
    { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TOKENPROXY_CONFIG: '' } })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  let out = ''
  proc.stdout.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  await until(() => /"listen": ?"http:\/\/127\.0\.0\.1:\d+"/.test(out) && out.includes('token obtained'), 8000,
    'the sidecar to listen and get its token')
  const listen = /"listen": ?"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)![1]!
  const res = await request(`${listen}/registry/start-bp`)
  t.equal(res.statusCode, 200)
  await res.body.text()
  await until(() => out.includes('GET /registry/start-bp -> registry 200'), 2000, 'the access-log line')
  return { out: () => out, kc, stop: async () => { proc.kill('SIGTERM'); return await exited } }
}

t.test('log.format: pretty, from the bundle without node_modules: readable lines, in order', async (t) => {
  const r = await runBundle(t, { format: 'pretty', requests: true })
  t.equal(await r.stop(), 0)
  const lines = r.out().trimEnd().split('\n')
  t.notOk(lines.some((l) => l.startsWith('{')), 'no JSON line')
  t.ok(lines.some((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: tokenproxy listening \{"addresses":/.test(l)),
    'time, level label, message, fields on one line')
  const accessLine = /^\[[\d:.]+\] INFO: GET \/registry\/start-bp -> registry 200 [\d.]+ms \{"method":"GET","route":"\/registry"/
  t.ok(lines.some((l) => accessLine.test(l)), 'the access-log line')
  const stopping = lines.findIndex((l) => l.includes('INFO: stopping: finishing in-flight requests'))
  t.ok(stopping > 0, 'the stopping line')
  t.match(lines.at(-1), /INFO: tokenproxy stopped$/, '"tokenproxy stopped" is the last line, after "stopping"')
  t.notOk(r.out().includes(r.kc.issued[0]!), 'no token')
})

t.test('JSON (the default off a terminal): level is the label', async (t) => {
  const r = await runBundle(t, { requests: true })
  t.equal(await r.stop(), 0)
  const lines = r.out().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.ok(lines.length > 4)
  t.ok(lines.every((l) => typeof l.level === 'string' && ['info', 'warn'].includes(l.level)),
    'every level is "info" or "warn", not a number')
  t.match(lines.find((l) => l.route === '/registry'), { level: 'info', method: 'GET', upstream: 'registry', status: 200 })
  t.equal(lines.at(-1)!.msg, 'tokenproxy stopped')
})
