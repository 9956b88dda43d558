// The built CLI ends by itself, without process.exit: `token` (success, failure) and `run` + SIGTERM close what they opened.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { CLI, runCli } from '../helpers/cli-process.js'
import { startRawIdp } from '../helpers/raw-idp.js'
import { until } from '../helpers/sidecar.js'
import { startSilentPeer } from '../helpers/tls-peers.js'

/**
 * Well under the 60 s connect timeout that would hold a process left with a connection being set up,
 * and loose enough for a machine busy with the rest of the suite (a first bound of 3 s was missed there).
 */
const WITHIN_MS = 15_000

interface Ended { code: number | null, ms: number, stdout: string, stderr: string }

/** Runs the CLI with `args` to its end; fails when it is still running after WITHIN_MS (and kills it). */
async function toTheEnd (t: Test, args: string[]): Promise<Ended> {
  const started = Date.now()
  const proc = spawn(process.execPath, [CLI, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TOKENPROXY_CONFIG: '', TOKENPROXY_LOG_LEVEL: '' } })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  return await new Promise<Ended>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`tokenproxy ${args.join(' ')} still running after ${WITHIN_MS} ms; stderr: ${stderr}`))
    }, WITHIN_MS)
    proc.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, ms: Date.now() - started, stdout, stderr })
    })
  })
}

t.test('token: ends by itself once the token is printed, or the failure told (exit 0, exit 1)', async (t) => {
  // The stand-in keeps each connection open (keep-alive) after answering. undici does not count an
  // idle connection as work, so an agent left open with only that would not hold the process; one
  // with a connection still being set up does, as the `run` test below shows.
  const idp = await startRawIdp((req, res) => {
    // `refused` authenticates with Basic: that client is refused.
    const ok = req.headers.authorization === undefined
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json', connection: 'keep-alive' })
    res.end(ok
      ? '{"access_token":"opaque-exit-token","expires_in":60,"token_type":"Bearer"}'
      : '{"error":"invalid_client","error_description":"Invalid client credentials"}')
  })
  t.teardown(() => idp.close())
  const dir = t.testdir({})
  const file = join(dir, 'tokenproxy.json')
  writeFileSync(file, JSON.stringify({
    credentials: {
      good: { type: 'keycloak', tokenUrl: idp.tokenUrl, clientId: 'c', clientSecret: 'exit-test-secret' },
      refused: {
        type: 'keycloak',
        tokenUrl: idp.tokenUrl,
        clientId: 'c',
        clientSecret: 'exit-test-secret',
        clientAuth: 'client_secret_basic',
      },
    },
    upstreams: { u: { target: 'https://registry.example.org', credential: 'good', prefix: '/u' } },
  }))

  const good = await toTheEnd(t, ['token', 'good', '--config', file, '--raw'])
  t.equal(good.code, 0)
  t.equal(good.stdout, 'opaque-exit-token\n', 'the whole output, written before the end')
  t.comment(`token: exit ${good.code} after ${good.ms} ms`)

  const bad = await toTheEnd(t, ['token', 'refused', '--config', file])
  t.equal(bad.code, 1)
  t.match(bad.stderr, 'credential "refused": token request to')
  t.match(bad.stderr, 'Keycloak answered 401: invalid_client: Invalid client credentials')
  t.comment(`token failure: exit ${bad.code} after ${bad.ms} ms`)
  t.equal(idp.requests.length, 2)
})

t.test('check, --help, a config error, demo + SIGTERM: each ends by itself with its code', async (t) => {
  const dir = t.testdir({
    'ok.json': JSON.stringify({
      credentials: { c: { type: 'keycloak', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'c', clientSecret: 'exit-test-secret' } },
      upstreams: { u: { target: 'http://127.0.0.1:9', credential: 'c', prefix: '/u' } },
    }),
    'bad.json': JSON.stringify({ credentials: { c: { type: 'oauth' } } }),
  })
  t.equal((await toTheEnd(t, ['check', '--config', join(dir, 'ok.json')])).code, 0, 'check')
  t.equal((await toTheEnd(t, ['--help'])).code, 0, '--help')
  t.equal((await toTheEnd(t, ['check', '--config', join(dir, 'bad.json')])).code, 2, 'a config error')
  const demo = spawn(process.execPath, [CLI, 'demo', '--port', '0', '--admin-port', '0'], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => { if (demo.exitCode === null && demo.signalCode === null) demo.kill('SIGKILL') })
  let out = ''
  demo.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)))
  await until(() => out.includes('Ctrl-C stops it.'), 8000, 'the demo banner')
  demo.kill('SIGTERM')
  const timeout = new Promise<'running'>((resolve) => { setTimeout(() => resolve('running'), WITHIN_MS).unref() })
  t.equal(await Promise.race([exited, timeout]), 0, 'demo + SIGTERM: exit 0')
})

t.test('run + SIGTERM while the first token request is still in its TLS handshake: exit 0 at once', async (t) => {
  // A TLS handshake that never completes: the connection is still being set up when SIGTERM comes.
  const silent = await startSilentPeer()
  t.teardown(() => silent.close())
  const sidecar = await runCli(t, {
    credentials: {
      slow: {
        type: 'keycloak',
        tokenUrl: `https://127.0.0.1:${silent.port}/token`,
        clientId: 'c',
        clientSecret: 's',
        timeout: 60,
      }
    },
    upstreams: { u: { target: 'http://127.0.0.1:9', credential: 'slow', prefix: '/u' } },
  })
  await until(() => silent.accepted === 1, 5000, 'the token request to connect')
  const sentAt = Date.now()
  sidecar.proc.kill('SIGTERM')
  const timeout = new Promise<'running'>((resolve) => { setTimeout(() => resolve('running'), WITHIN_MS).unref() })
  const ended = await Promise.race([sidecar.exited, timeout])
  // Without closing the credential's agent (and its sockets with it), the request aborted by the
  // stop would leave that socket to undici's connect timeout, the credential's 60 s: still running.
  t.not(ended, 'running', `exited within ${WITHIN_MS} ms of SIGTERM`)
  if (ended === 'running') return
  t.same(ended, { code: 0, signal: null }, 'exit 0')
  t.ok(sidecar.lines.some((l) => l.msg === 'tokenproxy stopped'))
  t.comment(`run: exit ${ended.code} ${Date.now() - sentAt} ms after SIGTERM`)
})

t.test('the stand-in holds a process whose agent is left open: what the run test would see without the fix', async (t) => {
  // What a credential does, minus its close(): a request on its own agent, aborted as a stopping
  // token manager aborts it. undici acts on an abort only once the connection is up, so the
  // connecting socket stays, and with it the process, until the connect timeout.
  const silent = await startSilentPeer()
  t.teardown(() => silent.close())
  const script = `
    import { Agent } from 'undici'
    const agent = new Agent({ connect: { timeout: 60000 } })
    const stop = new AbortController()
    agent.request({
      origin: 'https://127.0.0.1:${silent.port}', path: '/token', method: 'POST', body: 'x', signal: stop.signal,
    }).catch(() => {})
    setTimeout(() => stop.abort(), 100)
  `
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: 'ignore' })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  const exited = new Promise<'exited'>((resolve) => proc.on('exit', () => resolve('exited')))
  await until(() => silent.accepted === 1, 5000, 'the request to connect')
  const timeout = new Promise<'running'>((resolve) => { setTimeout(() => resolve('running'), WITHIN_MS).unref() })
  t.equal(await Promise.race([exited, timeout]), 'running', `still running ${WITHIN_MS} ms after the abort`)
})
