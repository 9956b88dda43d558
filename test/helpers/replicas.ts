// Replica processes of the built CLI (node dist/cli.js run) sharing one config: spawn, wait until they listen, read their logs, kill.
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { request } from 'undici'
import { CLI } from './cli-process.js'
import { until } from './sidecar.js'

export interface Replica {
  index: number
  proc: ChildProcess
  /** The shared listener's base URL and the admin one, once it listens. */
  proxy: string
  admin: string
  /** Parsed JSON log lines so far. */
  logs: () => Array<Record<string, unknown>>
  /** Log lines whose msg matches. */
  find: (msg: RegExp) => Array<Record<string, unknown>>
  exited: Promise<void>
}

/** Spawns one replica on a config file; `listening` resolves once it listens. */
export function spawnReplica (file: string, index: number,
  listenMs = 20_000): { replica: Omit<Replica, 'proxy' | 'admin'>, listening: Promise<Replica> } {
  const proc = spawn(process.execPath, [CLI, 'run', '--config', file],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TOKENPROXY_CONFIG: '' } })
  let out = ''
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr!.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const logs = (): Array<Record<string, unknown>> => out.split('\n').flatMap((l) => {
    try { return l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : [] } catch { return [] }
  })
  const find = (msg: RegExp): Array<Record<string, unknown>> => logs().filter((l) => msg.test(String(l.msg)))
  const replica = { index, proc, logs, find, exited }
  const listened = (): boolean => find(/^tokenproxy listening$/).length > 0 || proc.exitCode !== null
  const listening = until(listened, listenMs, `replica ${index} to listen`).then(() => {
    const line = find(/^tokenproxy listening$/)[0]
    if (line === undefined) throw new Error(`replica ${index} exited: ${out.slice(-2000)}`)
    const addresses = line.addresses as Record<string, string>
    return { ...replica, proxy: addresses.listen!, admin: addresses.admin! }
  })
  return { replica, listening }
}

/** Writes `doc` with both listeners on loopback port 0 as DIR/tokenproxy.yaml. */
export function writeConfigIn (dir: string, doc: Record<string, unknown>): string {
  const file = join(dir, 'tokenproxy.yaml')
  writeFileSync(file, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, ...doc }))
  return file
}

export const writeConfig = (t: Test, doc: Record<string, unknown>): string => writeConfigIn(t.testdir({}), doc)

/** `n` replicas of one config file, started at once; resolves when every one listens. `stop` kills them all. */
/** `listenMs`: how long each may take to listen (many at once on a busy machine take long). */
export async function launchReplicas (file: string, n: number,
  listenMs?: number): Promise<{ replicas: Replica[], stop: () => Promise<void> }> {
  const spawned = Array.from({ length: n }, (_, i) => spawnReplica(file, i, listenMs))
  const stop = async (): Promise<void> => {
    for (const { replica } of spawned) if (replica.proc.exitCode === null && replica.proc.signalCode === null) replica.proc.kill('SIGKILL')
    await Promise.all(spawned.map(({ replica }) => replica.exited))
  }
  try {
    return { replicas: await Promise.all(spawned.map(({ listening }) => listening)), stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** `n` replicas of `doc`, killed with the test. */
export async function startReplicas (t: Test, n: number, doc: Record<string, unknown>): Promise<Replica[]> {
  const { replicas, stop } = await launchReplicas(writeConfig(t, doc), n)
  t.teardown(stop)
  return replicas
}

export interface Readiness { status: number, credentials: Record<string, { state: string, source?: string, expiresAt: string | null }> }

export async function readyz (r: Replica): Promise<Readiness> {
  const res = await request(`${r.admin}/readyz`)
  const body = await res.body.json() as Readiness
  return { status: res.statusCode, credentials: body.credentials }
}

/** Resolves once every replica's /readyz answers 200. */
export async function allReady (replicas: Replica[], ms = 15_000): Promise<void> {
  await until(async () => (await Promise.all(replicas.map(readyz))).every((r) => r.status === 200), ms, 'every replica to be ready')
}

/** GET `path` on the replica's shared listener: status, the Authorization the upstream saw (echo) and how long it took. */
export async function proxied (r: Replica, path: string): Promise<{ status: number, authorization?: string, ms: number }> {
  const start = performance.now()
  const res = await request(`${r.proxy}${path}`)
  const text = await res.body.text()
  let authorization: string | undefined
  try { authorization = (JSON.parse(text) as { authorization?: string }).authorization } catch { /* not the echo */ }
  return { status: res.statusCode, ...(authorization === undefined ? {} : { authorization }), ms: performance.now() - start }
}
