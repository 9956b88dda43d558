// Child processes for the bench: spawn, wait for an HTTP 200, stop, and never leave one behind.
import { type ChildProcess, fork, spawn, type SpawnOptions } from 'node:child_process'
import { createServer } from 'node:net'

const children = new Set<ChildProcess>()
// SIGTERM, not SIGKILL: an nginx master that is killed outright leaves its worker running.
process.on('exit', () => { for (const c of children) c.kill('SIGTERM') })

/** Spawns `command` and tracks it so that an aborted bench does not leave it running. */
export function start (command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Forks a bench TypeScript module (with this process's loader flags) and waits for its first IPC message. */
export async function forkPeer<T> (module: URL, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess, info: T }> {
  const child = fork(module, [],
    { execArgv: process.execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  const info = await new Promise<T>((resolve, reject) => {
    child.once('message', (m) => resolve(m as T))
    child.once('exit', (code) => reject(new Error(`${module.pathname} exited with ${code} before it was ready`)))
  })
  return { child, info }
}

/** Asks a forked peer a question over IPC and returns its next message. */
export async function ask<T> (child: ChildProcess, question: string): Promise<T> {
  return await new Promise<T>((resolve) => {
    child.once('message', (m) => resolve(m as T))
    child.send(question)
  })
}

/** Polls `url` until it answers 200. */
export async function waitForOk (url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const res = await fetch(url)
      await res.arrayBuffer()
      if (res.status === 200) return
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. */
export async function stop (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 12_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  await exited
  clearTimeout(timer)
}

/** A loopback port that was free a moment ago (for listeners whose port must be known before they log it). */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}
