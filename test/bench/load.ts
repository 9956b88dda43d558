// Saturation load generators: wrk (its own process, when installed) and autocannon (in this process), one result shape.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { start } from './processes.js'
import type { Scenario } from './scenarios.js'

export type Tool = 'autocannon' | 'wrk'

export interface LoadSpec {
  url: string
  scenario: Scenario
  headers: Record<string, string>
  seconds: number
  connections: number
}

export interface LoadResult {
  requests: number
  seconds: number
  rps: number
  p50Ms: number
  p99Ms: number
  /** Responses that were not 2xx, and socket errors or timeouts: any of these makes the run suspect. */
  non2xx: number
  errors: number
}

export const hasCommand = (name: string): boolean =>
  spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0

async function runAutocannon (spec: LoadSpec): Promise<LoadResult> {
  const { scenario } = spec
  const r = await autocannon({
    url: spec.url,
    method: scenario.method,
    connections: spec.connections,
    duration: spec.seconds,
    timeout: 10,
    headers: { ...spec.headers, ...(scenario.body === undefined ? {} : { 'content-type': 'application/octet-stream' }) },
    ...(scenario.body === undefined ? {} : { body: scenario.body }),
  })
  // autocannon counts sent requests and completed responses; completed = 2xx + non-2xx.
  const requests = r['2xx'] + r.non2xx
  return {
    requests,
    seconds: r.duration,
    rps: requests / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  }
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }
const ms = (v: string, unit: string): number => Number(v) * (UNIT_MS[unit] ?? Number.NaN)

/** Parses `wrk --latency` output. */
export function parseWrk (out: string): LoadResult {
  const pick = (re: RegExp): RegExpExecArray => {
    const m = re.exec(out)
    if (m === null) throw new Error(`unexpected wrk output (no ${re.source}):\n${out}`)
    return m
  }
  const total = pick(/(\d+) requests in ([\d.]+)(us|ms|s|m),/)
  const p50 = pick(/^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$/m)
  const p99 = pick(/^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const errors = sock === null ? 0 : sock.slice(1).reduce((a, b) => a + Number(b), 0)
  const requests = Number(total[1])
  const seconds = ms(total[2]!, total[3]!) / 1000
  return { requests, seconds, rps: requests / seconds, p50Ms: ms(p50[1]!, p50[2]!), p99Ms: ms(p99[1]!, p99[2]!), non2xx, errors }
}

async function runWrk (spec: LoadSpec, scriptDir: string): Promise<LoadResult> {
  const { scenario } = spec
  const args = ['-t1', `-c${spec.connections}`, `-d${spec.seconds}s`, '--latency', '--timeout', '10s']
  for (const [name, value] of Object.entries(spec.headers)) args.push('-H', `${name}: ${value}`)
  if (scenario.body !== undefined) {
    const script = join(scriptDir, `wrk-${scenario.body.length}.lua`)
    // The body is a run of one byte, like autocannon's: string.rep builds it once in wrk.
    writeFileSync(script, [
      `wrk.method = "${scenario.method}"`,
      `wrk.body = string.rep("${String.fromCharCode(scenario.body[0]!)}", ${scenario.body.length})`,
      'wrk.headers["Content-Type"] = "application/octet-stream"',
      '',
    ].join('\n'))
    args.push('-s', script)
  }
  args.push(spec.url)
  const child = start('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout!.on('data', (c: Buffer) => { out += String(c) })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${out}`)
  return parseWrk(out)
}

export async function runLoad (tool: Tool, spec: LoadSpec, scriptDir: string): Promise<LoadResult> {
  return tool === 'wrk' ? await runWrk(spec, scriptDir) : await runAutocannon(spec)
}
