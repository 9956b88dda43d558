// The built CLI as users run it, in a child process with node flags of the test's choosing; its JSON log and bound addresses.
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

/** The built CLI; TEST_CLI runs another build instead (an older commit's, to see a test fail before a fix). */
export const CLI = process.env.TEST_CLI ?? fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

export interface CliSidecar {
  proc: ChildProcess
  /** Bound base URLs by listener name, from the 'tokenproxy listening' line. */
  addresses: Record<string, string>
  /** Every JSON log line so far. */
  lines: Array<Record<string, unknown>>
  /** The same, as a call (for `until`). */
  logs: () => Array<Record<string, unknown>>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface SpawnOptions {
  nodeArgs?: string[]
  env?: NodeJS.ProcessEnv
  /** The process joins that cgroup (writes its pid there) before node starts. */
  cgroupProcs?: string
}

/** Runs `node ...nodeArgs dist/cli.js run --config FILE` until the test ends; resolves once it listens. */
export async function spawnCli (t: Test, file: string, opts: SpawnOptions = {}): Promise<CliSidecar> {
  const argv = [process.execPath, ...(opts.nodeArgs ?? []), CLI, 'run', '--config', file]
  const env = { ...process.env, TOKENPROXY_CONFIG: '', ...opts.env }
  const proc = opts.cgroupProcs === undefined
    ? spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env })
    : spawn('/bin/sh', ['-c', 'echo $$ > "$CGROUP_PROCS" && exec "$@"', 'sh', ...argv],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, CGROUP_PROCS: opts.cgroupProcs } })
  let stderr = ''
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  const sidecar: CliSidecar = { proc, addresses: {}, lines, logs: () => lines, exited }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'tokenproxy listening' within 15 s; stderr: ${stderr}`)), 15_000)
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the CLI exited with ${String(code)}: ${stderr}`)) })
    createInterface({ input: proc.stdout! }).on('line', (text) => {
      let line: Record<string, unknown>
      try { line = JSON.parse(text) as Record<string, unknown> } catch { return }
      lines.push(line)
      if (line.msg === 'tokenproxy listening') {
        sidecar.addresses = line.addresses as Record<string, string>
        clearTimeout(timer)
        resolve()
      }
    })
  })
  return sidecar
}

/** Writes `config` (listen and admin on port 0 unless given) and runs the CLI on it (see spawnCli). */
export async function runCli (t: Test, config: Record<string, unknown>, nodeArgs: string[] = [],
  opts: { cgroupProcs?: string } = {}): Promise<CliSidecar> {
  const file = join(t.testdir(), 'tokenproxy.json')
  writeFileSync(file,
    JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, log: { level: 'info' }, ...config }))
  return await spawnCli(t, file, { nodeArgs, ...opts })
}
