// The built CLI (node dist/cli.js): `run` serves and drains in-flight requests on SIGTERM; `demo` prints curl lines that work.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { until } from '../helpers/sidecar.js'

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

interface Child {
  proc: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Parsed JSON log lines from stdout (other lines skipped). */
  logs: () => Array<Record<string, unknown>>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

function startCli (t: Test, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, [CLI, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TOKENPROXY_CONFIG: '', TOKENPROXY_LOG_LEVEL: '', ...env } })
  let out = ''
  let err = ''
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  const logs = (): Array<Record<string, unknown>> => out.split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return []
    try { return [JSON.parse(l) as Record<string, unknown>] } catch { return [] }
  })
  return { proc, stdout: () => out, stderr: () => err, logs, exited }
}

async function exitWithin (child: Child, ms: number): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms`)), ms) })
  try {
    return await Promise.race([child.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** True when nothing accepts TCP connections at the URL's port any more. */
function refused (url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

t.test('run --config FILE: serves, and on SIGTERM finishes the in-flight request and exits 0', async (t) => {
  const kc = await startKeycloak({ realm: 'consent-01-external-system', clients: { 'test-ext': { secret: 's3cret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  writeFileSync(file, JSON.stringify({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
  }))
  const child = startCli(t, ['run', '--config', file])
  await until(() => child.logs().some((l) => l.msg === 'tokenproxy listening'), 8000, 'the sidecar to listen')
  const addresses = child.logs().find((l) => l.msg === 'tokenproxy listening')!.addresses as Record<string, string>
  const proxy = addresses.listen!
  t.match(proxy, /^http:\/\/127\.0\.0\.1:\d+$/)

  const first = await request(`${proxy}/registry/start-bp`)
  t.equal(first.statusCode, 200, 'a proxied request')
  const echoed = await first.body.json() as { url: string, authorization: string }
  t.equal(echoed.url, '/start-bp')
  t.ok(kc.issued.includes(echoed.authorization.replace(/^Bearer /, '')), 'with the IdP\'s token injected')

  up.setMode({ kind: 'delay-headers', ms: 1500 })
  const slow = request(`${proxy}/registry/slow`)
  await until(() => up.requests.length === 2, 3000, 'the slow request to reach the upstream')
  t.ok(child.proc.kill('SIGTERM'))
  await until(() => refused(proxy), 1400, 'the listener to stop accepting')
  t.pass('new connections are refused while the in-flight request is still running')
  const res = await slow
  t.equal(res.statusCode, 200, 'the in-flight request finished')
  const body = await res.body.json() as { url: string, authorization: string }
  t.equal(body.url, '/slow')
  t.match(body.authorization, /^Bearer /)
  const { code, signal } = await exitWithin(child, 5000)
  t.equal(signal, null)
  t.equal(code, 0, 'exit 0')
  t.ok(child.logs().some((l) => l.msg === 'stopping: finishing in-flight requests' && l.signal === 'SIGTERM'))
  t.ok(child.logs().some((l) => l.msg === 'tokenproxy stopped'))
  t.notOk(child.logs().some((l) => /grace period over/.test(String(l.msg))),
    'stopped once the in-flight request was done, not at the end of the grace period')
  t.equal(child.stderr(), '')
})

t.test('run: a second signal while draining exits at once with 1', async (t) => {
  const kc = await startKeycloak({ clients: { 'test-ext': { secret: 's3cret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  writeFileSync(file, JSON.stringify({
    listen: { port: 0 },
    admin: { port: 0 },
    credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
  }))
  const child = startCli(t, ['run', '--config', file])
  await until(() => child.logs().some((l) => l.msg === 'tokenproxy listening'), 8000, 'the sidecar to listen')
  const proxy = (child.logs().find((l) => l.msg === 'tokenproxy listening')!.addresses as Record<string, string>).listen!
  up.setMode({ kind: 'delay-headers', ms: 8000 })
  const slow = request(`${proxy}/registry/slow`).then((r) => r.statusCode, (err: Error) => err)
  await until(() => up.requests.length === 1, 3000, 'the slow request to reach the upstream')
  child.proc.kill('SIGTERM')
  await until(() => child.logs().some((l) => l.msg === 'stopping: finishing in-flight requests'), 3000, 'draining to start')
  child.proc.kill('SIGTERM')
  const { code } = await exitWithin(child, 3000)
  t.equal(code, 1, 'not a clean stop')
  t.ok(child.logs().some((l) => l.msg === 'second signal: exiting now'))
  t.type(await slow, Error, 'the in-flight request was cut')
})

t.test('run: a port that is already taken is a runtime failure, exit 1', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
  const taken = (blocker.address() as AddressInfo).port
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  writeFileSync(file, JSON.stringify({
    listen: { port: taken },
    admin: { port: 0 },
    // Silent in the file; TOKENPROXY_LOG_LEVEL=fatal below is what lets the fatal line through.
    log: { level: 'silent' },
    credentials: { registry: { type: 'keycloak', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'x', clientSecret: 'y' } },
    upstreams: { registry: { target: 'http://127.0.0.1:9', credential: 'registry', prefix: '/registry' } },
  }))
  const child = startCli(t, ['run', '--config', file], { TOKENPROXY_LOG_LEVEL: 'fatal' })
  const { code } = await exitWithin(child, 8000)
  t.equal(code, 1)
  t.notOk(child.logs().some((l) => l.level !== 'fatal'), 'TOKENPROXY_LOG_LEVEL=fatal: nothing below fatal')
  const fatal = child.logs().filter((l) => l.level === 'fatal')
  t.equal(fatal.length, 1, 'one fatal line')
  t.equal(fatal[0]?.msg,
    `cannot start: listen cannot listen on 127.0.0.1:${taken}: ` +
      'the address is already in use (EADDRINUSE); change listen.port in the config',
    'naming the listener and the key that moves it')
  t.notOk('err' in fatal[0]!, 'no error object, so no stack')
  t.notMatch(child.stdout(), /^\s+at /m, 'no stack anywhere')

  const demo = startCli(t, ['demo', '--port', String(taken), '--admin-port', '0'])
  t.equal((await exitWithin(demo, 8000)).code, 1)
  t.match(demo.logs().find((l) => l.level === 'fatal')?.msg,
    /listen cannot listen on 127\.0\.0\.1:\d+: the address is already in use \(EADDRINUSE\); change --port$/, 'the demo names its flag')
})

t.test('demo --port 0 --admin-port 0: the printed curl lines work; SIGINT exits 0', async (t) => {
  const child = startCli(t, ['demo', '--port', '0', '--admin-port', '0'])
  await until(() => child.stdout().includes('Ctrl-C stops it.'), 8000, 'the demo banner')
  const curls = child.stdout().split('\n').filter((l) => l.trimStart().startsWith('curl '))
  t.ok(curls.length >= 4, `${curls.length} curl lines`)
  const urlIn = (pattern: RegExp): string => {
    const line = curls.find((l) => pattern.test(l))
    if (line === undefined) throw new Error(`no curl line matches ${pattern}`)
    return /(http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(line)![1]!
  }

  const echoUrl = urlIn(/\/echo\/start-bp/)
  const echo = await request(echoUrl)
  t.equal(echo.statusCode, 200)
  const shown = await echo.body.json() as { url: string, authorization: { scheme: string, azp: string, fingerprint: string } }
  t.equal(shown.url, '/start-bp')
  t.equal(shown.authorization.scheme, 'Bearer')
  t.equal(shown.authorization.azp, 'demo-client')
  t.match(shown.authorization.fingerprint, /^[0-9a-f]{8}$/)

  const replaced = await request(urlIn(/Authorization: Basic/), { headers: { authorization: 'Basic Zm9vOmJhcg==' } })
  t.equal(replaced.statusCode, 200)
  t.equal((await replaced.body.json() as { authorization: { scheme: string } }).authorization.scheme, 'Bearer',
    'the client\'s Basic header was replaced')

  const ready = await request(urlIn(/\/readyz/))
  t.equal(ready.statusCode, 200)
  t.match(await ready.body.json(), { status: 'ready', credentials: { demo: { state: 'valid' } } })

  const metrics = await request(urlIn(/\/metrics/))
  t.equal(metrics.statusCode, 200)
  t.match(await metrics.body.text(), /^tokenproxy_requests_total\{.*upstream="echo".*\} \d+$/m)

  const nowhere = await request(urlIn(/\/nowhere/))
  t.equal(nowhere.statusCode, 404)
  t.match(nowhere.headers['content-type'], /^application\/problem\+json/)
  t.equal((await nowhere.body.json() as { code: string }).code, 'NO_ROUTE')

  t.ok(child.proc.kill('SIGINT'))
  const { code, signal } = await exitWithin(child, 5000)
  t.equal(signal, null)
  t.equal(code, 0, 'exit 0 on SIGINT')
  t.equal(child.stderr(), '')

  // In order: the start's log lines, then the banner; on Ctrl-C "stopping", then "tokenproxy stopped", last.
  const lines = child.stdout().trimEnd().split('\n')
  const at = (pattern: RegExp): number => lines.findIndex((l) => pattern.test(l))
  t.ok(at(/"msg":"tokenproxy listening"/) < at(/^tokenproxy demo: /), '"tokenproxy listening" comes before the banner')
  t.ok(at(/^Ctrl-C stops it\.$/) < at(/"msg":"stopping: finishing in-flight requests"/), 'the banner before "stopping"')
  t.match(lines.at(-1), /"msg":"tokenproxy stopped"/, '"tokenproxy stopped" is the last line')
  const access = child.logs().filter((l) => l.route === '/echo')
  t.ok(access.length >= 2, 'the demo logs each request (log.requests: true)')

  // The README says how often the demo's token is refreshed: the same as the demo logs.
  const obtained = child.logs().find((l) => l.msg === 'token obtained')!
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const said = /again\s+every ~(\d+) s as the token is refreshed/.exec(readme)
  t.ok(said, 'the README states the demo\'s refresh interval')
  t.ok(Math.abs(Number(said?.[1]) - Number(obtained.refreshInS)) <= 1, `README ~${said?.[1]} s, the demo ${String(obtained.refreshInS)} s`)
})
