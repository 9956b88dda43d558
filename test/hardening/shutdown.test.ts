// The built CLI under SIGTERM with 50 requests in flight: none lost, new connections refused, the grace bounded, a second signal final.
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream, type Upstream } from '../peers/upstream.js'
import { until } from '../helpers/sidecar.js'

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))
const IN_FLIGHT = 50

interface Child {
  proc: ChildProcess
  logs: () => Array<Record<string, unknown>>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }>
  /** The shared listener's base URL once the CLI logged 'tokenproxy listening'. */
  proxy: string
}

/** Writes the config, spawns `node dist/cli.js run --config FILE` and waits until it listens. */
async function startCli (t: Test, up: Upstream, extra: Record<string, unknown> = {}): Promise<Child> {
  const kc = await startKeycloak({ clients: { 'test-ext': { secret: 's3cret' } } })
  t.teardown(() => kc.close())
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  writeFileSync(file, JSON.stringify({
    listen: { port: 0 },
    admin: { port: 0 },
    credentials: { registry: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-ext', clientSecret: 's3cret' } },
    upstreams: { registry: { target: up.url, credential: 'registry', prefix: '/registry' } },
    ...extra,
  }))
  const proc = spawn(process.execPath, [CLI, 'run', '--config', file],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TOKENPROXY_CONFIG: '' } })
  let out = ''
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr!.resume()
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }))
  })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  const logs = (): Array<Record<string, unknown>> => out.split('\n').flatMap((l) => {
    try { return l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : [] } catch { return [] }
  })
  await until(() => logs().some((l) => l.msg === 'tokenproxy listening'), 8000, 'the sidecar to listen')
  await until(() => logs().some((l) => l.msg === 'token obtained'), 8000, 'the first token')
  const proxy = (logs().find((l) => l.msg === 'tokenproxy listening')!.addresses as Record<string, string>).listen!
  return { proc, logs, exited, proxy }
}

/** A GET on its own connection: the status and body, or the error that ended it. */
function get (url: string): Promise<{ status: number, body: string } | Error> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode!, body }))
      res.on('error', resolve)
    })
    req.on('error', resolve)
    req.end()
  })
}

/** 'refused' when nothing accepts a TCP connection at the URL's port, else 'accepted'. */
function dial (url: string): Promise<'refused' | 'accepted' | string> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    socket.once('connect', () => { socket.destroy(); resolve('accepted') })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : String(err.code)))
  })
}

async function exitWithin (child: Child, ms: number): Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms`)), ms) })
  try {
    return await Promise.race([child.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const drainTitle = `SIGTERM with ${IN_FLIGHT} requests in flight: all ${IN_FLIGHT} answered 200, ` +
  'new connections refused meanwhile, exit 0'
t.test(drainTitle, async (t) => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const child = await startCli(t, up)
  up.setMode({ kind: 'delay-headers', ms: 1000 })
  let done = 0
  const inFlight = Array.from({ length: IN_FLIGHT }, async (_, i) => {
    const r = await get(`${child.proxy}/registry/slow/${i}`)
    done++
    return r
  })
  await until(() => up.requests.length === IN_FLIGHT, 5000, `all ${IN_FLIGHT} requests to reach the upstream`)
  t.ok(child.proc.kill('SIGTERM'))
  let dialled: string
  do dialled = await dial(child.proxy)
  while (dialled === 'accepted')
  const doneWhenRefused = done
  t.equal(dialled, 'refused', 'a new connection after SIGTERM is refused (ECONNREFUSED)')
  t.ok(doneWhenRefused < IN_FLIGHT, `while the in-flight requests were still draining (${doneWhenRefused} of ${IN_FLIGHT} done)`)

  const results = await Promise.all(inFlight)
  const ok = results.filter((r, i) =>
    !(r instanceof Error) && r.status === 200 && (JSON.parse(r.body) as { url: string }).url === `/slow/${i}`)
  const lost = IN_FLIGHT - ok.length
  t.equal(lost, 0, `requests lost in the shutdown: ${lost}`)
  t.same(results.filter((r) => r instanceof Error).map((e) => (e as Error).message), [], 'no in-flight request was cut')
  const { code, signal } = await exitWithin(child, 8000)
  t.equal(signal, null)
  t.equal(code, 0, 'exit 0')
  t.ok(child.logs().some((l) => l.msg === 'tokenproxy stopped'))
  t.notOk(child.logs().some((l) => /grace period over/.test(String(l.msg))), 'the drain finished inside the grace period')
  t.comment(`shutdown: ${IN_FLIGHT} in flight, ${ok.length} answered 200, ${lost} lost; ` +
    `${doneWhenRefused} done when the first new connection was refused`)
})

t.test('shutdown.grace: 1 with an upstream that takes 5 s: the stuck request is cut after the grace, exit 0', async (t) => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const child = await startCli(t, up, { shutdown: { grace: 1 } })
  up.setMode({ kind: 'delay-headers', ms: 5000 })
  const stuck = get(`${child.proxy}/registry/stuck`)
  await until(() => up.requests.length === 1, 5000, 'the stuck request to reach the upstream')
  const sentAt = Date.now()
  child.proc.kill('SIGTERM')
  const res = await stuck
  const { code, signal, at } = await exitWithin(child, 8000)
  const took = at - sentAt
  t.type(res, Error, 'the stuck request\'s client got a closed connection, not the upstream\'s answer (which comes at 5 s)')
  t.equal(signal, null)
  t.equal(code, 0, 'exit 0: the grace period is part of a clean stop')
  t.ok(took >= 900, `it waited for the grace period before cutting (${took} ms after SIGTERM)`)
  t.ok(child.logs().some((l) => /grace period over/.test(String(l.msg)) && l.graceS === 1), 'logged: grace period over')
  t.ok(child.logs().some((l) => l.msg === 'tokenproxy stopped'))
  t.comment(`grace 1 s, upstream 5 s: exited ${took} ms after SIGTERM`)
})

t.test('a second signal during the drain (SIGINT, then SIGTERM) exits at once with 1', async (t) => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const child = await startCli(t, up)
  up.setMode({ kind: 'delay-headers', ms: 8000 })
  const slow = Array.from({ length: 5 }, () => get(`${child.proxy}/registry/slow`))
  await until(() => up.requests.length === 5, 5000, 'the slow requests to reach the upstream')
  child.proc.kill('SIGINT')
  await until(() => child.logs().some((l) => l.msg === 'stopping: finishing in-flight requests' && l.signal === 'SIGINT'), 3000,
    'draining to start')
  const secondAt = Date.now()
  child.proc.kill('SIGTERM')
  const { code, at } = await exitWithin(child, 5000)
  t.equal(code, 1, 'exit 1: not a clean stop')
  t.ok(child.logs().some((l) => l.msg === 'second signal: exiting now' && l.signal === 'SIGTERM'))
  const cut = await Promise.all(slow)
  t.ok(cut.every((r) => r instanceof Error), 'the in-flight requests were cut, not drained (the grace is 10 s, the upstream 8 s)')
  t.comment(`second signal: exit ${code} ${at - secondAt} ms after it`)
})
