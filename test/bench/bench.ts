// `npm run bench`: direct vs tokenproxy (built, as users run it) vs nginx, under autocannon and wrk; prints one table.
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { selfTimes } from './cpu-profile.js'
import type { IdpInfo } from './idp.js'
import { hasCommand, runLoad, type Tool } from './load.js'
import { startNginx } from './nginx.js'
import { cpuSeconds, processTree, vmBytes, watchPeakRss } from './proc-stats.js'
import { ask, forkPeer, freePort, stop } from './processes.js'
import { markdownTable, median, summarize, targetLines, type Run, type Target } from './report.js'
import { SCENARIOS, toolsFor } from './scenarios.js'
import { CLI, NODE_ARGS, PREFIX, coldStartOnce, startSidecar, writeSidecarConfig } from './sidecar-process.js'

const { values: flags } = parseArgs({ options: { out: { type: 'string' }, profile: { type: 'boolean' } } })
const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback)
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`)
  return v
}
const SECONDS = num('BENCH_SECONDS', 5)
const ROUNDS = num('BENCH_ROUNDS', 3)
const WARMUP = num('BENCH_WARMUP', 1)
const CONNECTIONS = num('BENCH_CONNECTIONS', 50)
const COLD_STARTS = num('BENCH_COLD_STARTS', 5)
const log = (s: string): void => { process.stderr.write(`${s}\n`) }

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`)
const dir = mkdtempSync(join(tmpdir(), 'tokenproxy-bench-'))
const tools: Tool[] = (process.env.BENCH_TOOLS ?? 'autocannon,wrk').split(',')
  .filter((t): t is Tool => t === 'autocannon' || (t === 'wrk' && hasCommand('wrk')))

const idp = await forkPeer<IdpInfo>(new URL('./idp.ts', import.meta.url))
const upstream = await forkPeer<{ port: number }>(new URL('./upstream.ts', import.meta.url))
const upstreamPids = [upstream.child.pid!]

/** One real token for the direct runs and nginx's static header, so every target sends the same header bytes. */
async function fetchToken (): Promise<string> {
  const res = await fetch(idp.info.tokenUrl, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: idp.info.clientId, client_secret: idp.info.clientSecret }),
  })
  return ((await res.json()) as { access_token: string }).access_token
}
const token = await fetchToken()
const tokenRequests = async (): Promise<number> => (await ask<{ tokenRequests: number }>(idp.child, 'token-requests')).tokenRequests

const ports = { listen: await freePort(), admin: await freePort() }
const sidecarConfig = writeSidecarConfig(dir, 'sidecar', idp.info, upstream.info.port, ports, 'warn')
const tokensBefore = await tokenRequests()
const sidecar: ChildProcess = await startSidecar(sidecarConfig, ports.admin, flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [])
const firstTokenAt = Date.now()
// BENCH_BASELINE_CLI: another build (say, an older commit's dist/cli.js) measured in the same run, interleaved.
const BASELINE_CLI = flags.profile ? undefined : process.env.BENCH_BASELINE_CLI
const basePorts = { listen: await freePort(), admin: await freePort() }
const baseline = BASELINE_CLI === undefined
  ? undefined
  : await startSidecar(writeSidecarConfig(dir, 'baseline', idp.info, upstream.info.port, basePorts, 'warn'), basePorts.admin, [],
    BASELINE_CLI)
const sidecars = baseline === undefined ? 1 : 2
const nginx = flags.profile ? undefined : await startNginx(join(dir, 'nginx'), await freePort(), upstream.info.port, token)

interface TargetSpec { name: Target, base: string, headers: Record<string, string>, pids?: number[] }
const targets: TargetSpec[] = [
  { name: 'direct', base: `http://127.0.0.1:${upstream.info.port}`, headers: { authorization: `Bearer ${token}` } },
  ...(baseline === undefined
    ? []
    : [{ name: 'baseline' as const, base: `http://127.0.0.1:${basePorts.listen}${PREFIX}`, headers: {}, pids: [baseline.pid!] }]),
  { name: 'tokenproxy', base: `http://127.0.0.1:${ports.listen}${PREFIX}`, headers: {}, pids: [sidecar.pid!] },
  ...(nginx === undefined ? [] : [{ name: 'nginx' as const, base: nginx.url, headers: {}, pids: processTree(nginx.child.pid!) }]),
]

async function measure (round: number, scenario: typeof SCENARIOS[number], tool: Tool, target: TargetSpec): Promise<Run> {
  const spec = { url: `${target.base}${scenario.path}`, scenario, headers: target.headers, connections: CONNECTIONS }
  await runLoad(tool, { ...spec, seconds: WARMUP }, dir)
  const proxy0 = target.pids === undefined ? 0 : cpuSeconds(target.pids)
  const upstream0 = cpuSeconds(upstreamPids)
  const rss = target.pids === undefined ? undefined : watchPeakRss(target.pids)
  const load = await runLoad(tool, { ...spec, seconds: SECONDS }, dir)
  const run: Run = {
    round,
    scenario: scenario.name,
    tool,
    target: target.name,
    load,
    payloadBytes: scenario.payloadBytes,
    upstreamCpuS: cpuSeconds(upstreamPids) - upstream0,
    ...(target.pids === undefined ? {} : { proxyCpuS: cpuSeconds(target.pids) - proxy0, proxyPeakRssBytes: rss!.stop() }),
  }
  const bad = load.non2xx + load.errors > 0 ? `  !! ${load.non2xx} non-2xx, ${load.errors} errors` : ''
  log(`round ${round} ${scenario.name.padEnd(10)} ${tool.padEnd(10)} ${target.name.padEnd(10)} ` +
    `${Math.round(load.rps).toString().padStart(6)} req/s  p99 ${load.p99Ms.toFixed(1)} ms${bad}`)
  return run
}

const started = new Date()
const load0 = loadavg()
const runs: Run[] = []
let profileReport = ''
if (flags.profile) {
  // Small GETs through the sidecar only, then the V8 profile it writes when it exits.
  const target = targets.find((t) => t.name === 'tokenproxy')!
  log(`profiling the sidecar under small-GET load for ${SECONDS * ROUNDS} s`)
  runs.push(await measure(1, SCENARIOS[0]!, 'autocannon', target))
  await stop(sidecar)
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error('the sidecar wrote no .cpuprofile')
  const { total, functions, packages } = selfTimes(join(dir, file))
  const pct = (s: number): string => `${(s * 100).toFixed(1)}%`
  profileReport = [
    `CPU profile ${join(dir, file)}: ${(total / 1000).toFixed(1)} s sampled, ${runs[0]!.load.requests} requests measured`,
    '', '| self time | share | function | where |', '|---:|---:|---|---|',
    ...functions.map((f) => `| ${f.ms.toFixed(0)} ms | ${pct(f.share)} | \`${f.name}\` | ${f.where} |`),
    '', '| self time by package | share |', '|---|---:|',
    ...packages.slice(0, 12).map((p) => `| ${p.name} | ${pct(p.share)} |`),
  ].join('\n')
} else {
  const runsPerRound = targets.length * SCENARIOS.reduce((n, s) => n + toolsFor(s, tools).length, 0)
  log(`bench: ${targets.map((t) => t.name).join(', ')} × ${SCENARIOS.length} scenarios × ${tools.join('+')} × ` +
    `${ROUNDS} rounds of ${WARMUP}+${SECONDS} s, ${CONNECTIONS} connections` +
    ` (about ${Math.ceil(runsPerRound * ROUNDS * (WARMUP + SECONDS + 0.3) / 60)} min)`)
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      for (const tool of toolsFor(scenario, tools)) {
        // Rotate the target order every round so that no target always runs right after another one.
        const order = targets.map((_, i) => targets[(i + round - 1) % targets.length]!)
        for (const target of order) runs.push(await measure(round, scenario, tool, target))
      }
    }
  }
}
const tokenRequestsDuringLoad = (await tokenRequests()) - tokensBefore
const tokenSeconds = (Date.now() - firstTokenAt) / 1000
// SPEC: refresh at 0.8 ± 0.05 of the 300 s lifetime, so one more token every 225-255 s of a long run.
const expectedTokens = { min: sidecars * (1 + Math.floor(tokenSeconds / 255)), max: sidecars * (1 + Math.floor(tokenSeconds / 225)) }
const expectedText = expectedTokens.min === expectedTokens.max ? String(expectedTokens.min) : `${expectedTokens.min}-${expectedTokens.max}`
const sidecarHwmMiB = vmBytes([sidecar.pid!], 'VmHWM') / 1024 / 1024
await stop(sidecar)
if (baseline !== undefined) await stop(baseline)
await nginx?.close()
const load1 = loadavg()

const coldConfig = writeSidecarConfig(dir, 'cold', idp.info, upstream.info.port, { listen: 0, admin: 0 }, 'info')
const cold = []
if (!flags.profile) for (let i = 0; i < COLD_STARTS; i++) cold.push(await coldStartOnce(coldConfig))
await Promise.all([stop(idp.child), stop(upstream.child)])

const rows = summarize(runs)
const table = markdownTable(rows)
const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  node: process.version,
  date: started.toISOString(),
  loadavgBefore: load0,
  loadavgAfter: load1,
  tools,
  nginx: nginx !== undefined,
}
const coldStart = cold.length === 0
  ? undefined
  : {
      runs: cold, medianListeningMs: median(cold.map((c) => c.listeningMs)), medianTokenMs: median(cold.map((c) => c.tokenMs)),
    }
const summary = [
  `${machine.cpus} × ${machine.cpuModel ?? 'CPU'}, Node ${machine.node}, ${machine.date}; ` +
    `load average ${load0.map((l) => l.toFixed(2)).join(' ')} before, ${load1.map((l) => l.toFixed(2)).join(' ')} after`,
  `${ROUNDS} rounds × (${WARMUP} s warm-up + ${SECONDS} s measured), ${CONNECTIONS} connections, ` +
    'medians over rounds (± is half the min-max spread of req/s); loopback',
  `token requests seen by the IdP while the sidecar served all runs: ${tokenRequestsDuringLoad} in ${tokenSeconds.toFixed(0)} s ` +
    `(300 s tokens, refreshed at 0.8 ± 0.05 of their lifetime: expect ${expectedText})`,
  ...(NODE_ARGS.length === 0 ? [] : [`sidecar node flags: ${NODE_ARGS.join(' ')}`]),
  ...(process.env.BENCH_CLI === undefined ? [] : [`sidecar: ${CLI}`]),
  ...(BASELINE_CLI === undefined ? [] : [`baseline: ${BASELINE_CLI} (its token requests are counted too: ${sidecars} sidecars)`]),
  `sidecar peak RSS over the whole run (VmHWM): ${sidecarHwmMiB.toFixed(0)} MiB`,
  ...(coldStart === undefined
    ? []
    : [`cold start (spawn to 'tokenproxy listening' / to 'token obtained'), median of ${cold.length}: ` +
        `${coldStart.medianListeningMs.toFixed(0)} ms / ${coldStart.medianTokenMs.toFixed(0)} ms`]),
  ...(nginx === undefined && !flags.profile ? ['nginx not installed: its rows and ratios are left out'] : []),
].join('\n')
const facts = {
  tokenRequests: tokenRequestsDuringLoad,
  expectedTokens,
  peakRssMiB: sidecarHwmMiB,
  coldStartMs: coldStart?.medianListeningMs,
}
const verdicts = flags.profile ? [] : targetLines(rows, facts)
const targetsText = verdicts.length === 0 ? '' : `\ntargets (issue 6):\n${verdicts.join('\n')}\n`
process.stdout.write(`\n${flags.profile ? profileReport : table}\n\n${summary}\n${targetsText}`)

const out = flags.out ?? join(tmpdir(), `tokenproxy-bench-${started.toISOString().replace(/[:.]/g, '-')}.json`)
const results = {
  machine,
  params: { SECONDS, ROUNDS, WARMUP, CONNECTIONS, cli: CLI, nodeArgs: NODE_ARGS },
  tokenSeconds,
  expectedTokens,
  tokenRequestsDuringLoad,
  sidecarHwmMiB,
  coldStart,
  rows,
  runs,
  table,
  profile: profileReport || undefined,
}
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
log(`results: ${out}`)
if (!flags.profile) rmSync(dir, { recursive: true, force: true })
