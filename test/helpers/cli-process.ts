// Runs the built CLI (`node dist/cli.js run --config FILE`) as a child process, its JSON log lines parsed.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { until } from './sidecar.js'

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

export interface CliProcess {
  proc: ChildProcess
  logs: () => Array<Record<string, unknown>>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Bound base URLs by listener name, from the 'tokenproxy listening' line. */
  addresses: Record<string, string>
}

/** Spawns the CLI on `file` and resolves once it listens; killed when `t` ends. */
export async function spawnCli (t: Test, file: string, env: NodeJS.ProcessEnv = {}): Promise<CliProcess> {
  const proc = spawn(process.execPath, [CLI, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TOKENPROXY_CONFIG: '', ...env } })
  let out = ''
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  proc.stderr!.resume()
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  const logs = (): Array<Record<string, unknown>> => out.split('\n').flatMap((l) => {
    try { return l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : [] } catch { return [] }
  })
  await until(() => logs().some((l) => l.msg === 'tokenproxy listening') || proc.exitCode !== null, 10_000, 'the sidecar to listen')
  const listening = logs().find((l) => l.msg === 'tokenproxy listening')
  if (!listening) throw new Error(`the CLI exited with ${String(proc.exitCode)}:\n${out}`)
  return { proc, logs, exited, addresses: listening.addresses as Record<string, string> }
}
