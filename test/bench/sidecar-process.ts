// The built sidecar as users run it (`node dist/cli.js run --config FILE`): config, start, and cold-start timing.
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { IdpInfo } from './idp.js'
import { start, stop, waitForOk } from './processes.js'

/** The built CLI; BENCH_CLI measures another build (an older commit's, for a before/after). */
export const CLI = process.env.BENCH_CLI ?? fileURLToPath(new URL('../../dist/cli.js', import.meta.url))
/** Node flags for every sidecar the bench starts (BENCH_NODE_ARGS, space-separated), to measure a V8 setting. */
export const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
/** The Node binary for the sidecars (BENCH_NODE: another Node version, say the image's); the bench's own by default. */
export const NODE_BIN = process.env.BENCH_NODE ?? process.execPath
export const PREFIX = '/up'

export interface SidecarPorts { listen: number, admin: number }

/** Writes a config with one keycloak credential on the bench IdP and one prefix route to the bench upstream. */
export function writeSidecarConfig (dir: string, name: string, idp: IdpInfo, upstreamPort: number, ports: SidecarPorts,
  level: string): string {
  const file = join(dir, `${name}.json`)
  writeFileSync(file, JSON.stringify({
    listen: { host: '127.0.0.1', port: ports.listen },
    admin: { host: '127.0.0.1', port: ports.admin },
    log: { level },
    credentials: { bench: { type: 'keycloak', url: idp.root, realm: idp.realm, clientId: idp.clientId, clientSecret: idp.clientSecret } },
    upstreams: { bench: { target: `http://127.0.0.1:${upstreamPort}`, credential: 'bench', prefix: PREFIX } },
  }, null, 2))
  return file
}

/** Starts the sidecar and waits until /readyz says it holds a token. Its output goes to this process's stderr. */
export async function startSidecar (config: string, adminPort: number, nodeArgs: string[] = [], cli = CLI,
  baseArgs = NODE_ARGS): Promise<ChildProcess> {
  const child = start(NODE_BIN, [...baseArgs, ...nodeArgs, cli, 'run', '--config', config])
  child.stdout!.pipe(process.stderr)
  child.stderr!.pipe(process.stderr)
  await waitForOk(`http://127.0.0.1:${adminPort}/readyz`)
  return child
}

export interface ColdStart { listeningMs: number, tokenMs: number }

/**
 * Spawns `node dist/cli.js run` with an info-level config on port 0 and times, from the spawn, the
 * 'tokenproxy listening' line and the 'token obtained' line; then stops it.
 */
export async function coldStartOnce (config: string): Promise<ColdStart> {
  const t0 = performance.now()
  const child = start(NODE_BIN, [...NODE_ARGS, CLI, 'run', '--config', config])
  child.stderr!.resume()
  const seen: Partial<ColdStart> = {}
  let onExit: ((code: number | null) => void) | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no "tokenproxy listening" and "token obtained" lines within 15 s')), 15_000)
      onExit = (code) => reject(new Error(`sidecar exited with ${String(code)} during cold start`))
      child.once('exit', onExit)
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const at = performance.now() - t0
        const msg = /"msg":"([^"]*)"/.exec(line)?.[1]
        if (msg === 'tokenproxy listening') seen.listeningMs ??= at
        if (msg === 'token obtained') seen.tokenMs ??= at
        if (seen.listeningMs !== undefined && seen.tokenMs !== undefined) { clearTimeout(timer); resolve() }
      })
    })
  } finally {
    if (onExit !== undefined) child.off('exit', onExit)
    await stop(child)
  }
  return seen as ColdStart
}
