// `npm run bench`: direct vs tokenproxy (built, as users run it) vs nginx: a fixed-rate table (open-loop) and a saturation table (wrk).
import { execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { selfTimes } from './cpu-profile.js'
import type { IdpInfo } from './idp.js'
import { hasCommand, runLoad, type Tool } from './load.js'
import { startNginx } from './nginx.js'
import { startOpenLoopClient } from './open-loop.js'
import { cpuSeconds, processTree, vmBytes, watchPeakRss } from './proc-stats.js'
import { ask, forkPeer, freePort, stop } from './processes.js'
import {
  markdownTable, median, rateTable, summarize, summarizeRates, targetLines, type MemorySample, type RateRun, type Run, type RunFacts,
  type Target,
} from './report.js'
import { FIXED_RATES, FIXED_RATE_SCENARIO, SCENARIOS, toolsFor } from './scenarios.js'
import { CLI, NODE_ARGS, NODE_BIN, PREFIX, coldStartOnce, startSidecar, writeSidecarConfig } from './sidecar-process.js'

const { values: flags } = parseArgs({
  options: { out: { type: 'string' }, profile: { type: 'boolean' }, 'profile-rate': { type: 'string' } },
})
const positive = (name: string, raw: string | number): number => {
  const v = Number(raw)
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`)
  return v
}
const num = (name: string, fallback: number): number => positive(name, process.env[name] ?? fallback)
const SECONDS = num('BENCH_SECONDS', 5)
const ROUNDS = num('BENCH_ROUNDS', 3)
const WARMUP = num('BENCH_WARMUP', 1)
const CONNECTIONS = num('BENCH_CONNECTIONS', 50)
const RATE_CONNECTIONS = num('BENCH_RATE_CONNECTIONS', 20)
const COLD_STARTS = num('BENCH_COLD_STARTS', 5)
/** --profile: small GET at saturation through the sidecar only; --profile-rate N: the same under the open-loop client at N req/s. */
const PROFILE_RATE = flags['profile-rate'] === undefined ? undefined : positive('--profile-rate', flags['profile-rate'])
const profiling = flags.profile === true || PROFILE_RATE !== undefined
const MiB = 1024 * 1024
const nodeVersion = (bin: string): string => execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()
const log = (s: string): void => { process.stderr.write(`${s}\n`) }

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`)
const dir = mkdtempSync(join(tmpdir(), 'tokenproxy-bench-'))
// wrk only unless told (BENCH_TOOLS=autocannon,wrk); autocannon when wrk is not installed.
const tools: Tool[] = (process.env.BENCH_TOOLS ?? 'wrk').split(',')
  .filter((t): t is Tool => t === 'autocannon' || (t === 'wrk' && hasCommand('wrk')))
if (tools.length === 0) {
  log('wrk is not installed: the saturation table uses autocannon')
  tools.push('autocannon')
}

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
const sidecar: ChildProcess = await startSidecar(sidecarConfig, ports.admin, profiling ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [])
const firstTokenAt = Date.now()
// BENCH_BASELINE_CLI: another build (say, an older commit's dist/cli.js) measured in the same run, interleaved;
// BENCH_BASELINE_NODE_ARGS: its Node flags instead of BENCH_NODE_ARGS (the same build, with and without a V8 setting).
const BASELINE_ARGS = process.env.BENCH_BASELINE_NODE_ARGS?.split(' ').filter((a) => a !== '')
const BASELINE_CLI = profiling ? undefined : process.env.BENCH_BASELINE_CLI ?? (BASELINE_ARGS === undefined ? undefined : CLI)
const basePorts = { listen: await freePort(), admin: await freePort() }
const baseline = BASELINE_CLI === undefined
  ? undefined
  : await startSidecar(writeSidecarConfig(dir, 'baseline', idp.info, upstream.info.port, basePorts, 'warn'), basePorts.admin, [],
    BASELINE_CLI, BASELINE_ARGS)
const sidecars = baseline === undefined ? 1 : 2
const nginx = profiling ? undefined : await startNginx(join(dir, 'nginx'), await freePort(), upstream.info.port, token)

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

const client = await startOpenLoopClient()
const clientPids = [client.child.pid!]

/** One fixed-rate run: warm-up and window on the same connections; CPU and RssAnon over the window the client reports. */
async function measureRate (round: number, rate: number, target: TargetSpec): Promise<RateRun> {
  const pids = target.pids
  const at = { t: 0, proxy: 0, upstream: 0, client: 0 }
  const end = { wallS: 0, proxyCpuS: 0, upstreamCpuS: 0, clientCpuS: 0, rssAnon: 0 }
  let rss: { stop (): number } | undefined
  const spec = {
    url: `${target.base}${FIXED_RATE_SCENARIO.path}`,
    headers: target.headers,
    rate,
    connections: RATE_CONNECTIONS,
    seconds: SECONDS,
    warmupSeconds: WARMUP,
  }
  const load = await client.run(spec, {
    onWindowStart: () => {
      at.t = performance.now()
      at.proxy = pids === undefined ? 0 : cpuSeconds(pids)
      at.upstream = cpuSeconds(upstreamPids)
      at.client = cpuSeconds(clientPids)
      rss = pids === undefined ? undefined : watchPeakRss(pids, 'RssAnon')
    },
    onWindowEnd: () => {
      end.wallS = (performance.now() - at.t) / 1000
      end.proxyCpuS = pids === undefined ? 0 : cpuSeconds(pids) - at.proxy
      end.upstreamCpuS = cpuSeconds(upstreamPids) - at.upstream
      end.clientCpuS = cpuSeconds(clientPids) - at.client
      end.rssAnon = rss?.stop() ?? 0
    },
  })
  const run: RateRun = {
    round,
    rate,
    target: target.name,
    load,
    wallS: end.wallS,
    upstreamCpuS: end.upstreamCpuS,
    clientCpuS: end.clientCpuS,
    ...(pids === undefined ? {} : { proxyCpuS: end.proxyCpuS, proxyPeakRssAnonBytes: end.rssAnon }),
  }
  const bad = load.non2xx + load.errors + load.unfinished > 0
    ? `  !! ${load.non2xx} non-2xx, ${load.errors} errors, ${load.unfinished} unfinished`
    : ''
  const vcpu = pids === undefined ? '' : `  proxy ${(end.proxyCpuS / end.wallS).toFixed(3)} vCPU`
  log(`round ${round} @ ${String(rate).padEnd(5)} req/s open-loop ${target.name.padEnd(10)} ` +
    `${Math.round(load.rps).toString().padStart(6)} req/s  p99 ${load.p99Ms.toFixed(2)} ms${vcpu}${bad}`)
  return run
}

const memory = (pid: number): MemorySample => ({ rssMiB: vmBytes([pid], 'VmRSS') / MiB, rssAnonMiB: vmBytes([pid], 'RssAnon') / MiB })

/** The sidecar's memory after the load: from 5 s on, sampled each second until two samples are within 0.5 MiB, 15 s at most. */
async function settledMemory (pid: number, loadEnded: number): Promise<NonNullable<RunFacts['after']>> {
  await sleep(Math.max(0, 5000 - (performance.now() - loadEnded)))
  let previous = memory(pid)
  for (;;) {
    await sleep(1000)
    const now = memory(pid)
    const afterS = (performance.now() - loadEnded) / 1000
    if (Math.abs(now.rssMiB - previous.rssMiB) < 0.5) return { ...now, afterS, stable: true }
    if (afterS >= 15) return { ...now, afterS, stable: false }
    previous = now
  }
}

const started = new Date()
const load0 = loadavg()
const idle = memory(sidecar.pid!)
const runs: Run[] = []
const rateRuns: RateRun[] = []
/** Rotates the target order every round so that no target always runs right after another one. */
const rotated = (round: number): TargetSpec[] => targets.map((_, i) => targets[(i + round - 1) % targets.length]!)
let profiled = ''
if (flags.profile) {
  // Small GETs through the sidecar only; the V8 profile is written when it exits.
  const target = targets.find((t) => t.name === 'tokenproxy')!
  log(`profiling the sidecar under small-GET load at saturation (${tools[0]!}) for ${WARMUP} + ${SECONDS} s`)
  runs.push(await measure(1, SCENARIOS[0]!, tools[0]!, target))
  profiled = `${runs[0]!.load.requests} requests measured (small GET at saturation, ${tools[0]!}, ${CONNECTIONS} connections)`
} else if (PROFILE_RATE !== undefined) {
  const target = targets.find((t) => t.name === 'tokenproxy')!
  log(`profiling the sidecar under the open-loop client at ${PROFILE_RATE} req/s for ${WARMUP} + ${SECONDS} s`)
  rateRuns.push(await measureRate(1, PROFILE_RATE, target))
  profiled = `${rateRuns[0]!.load.requests} requests measured ` +
    `(small GET at ${PROFILE_RATE} req/s, open-loop, ${RATE_CONNECTIONS} connections)`
} else {
  const rateRunCount = FIXED_RATES.length * targets.length * ROUNDS
  const saturationRunCount = targets.length * SCENARIOS.reduce((n, s) => n + toolsFor(s, tools).length, 0) * ROUNDS
  const estimateS = (rateRunCount + saturationRunCount) * (WARMUP + SECONDS + 0.3) + 10 + COLD_STARTS * 0.6
  log(`bench: ${targets.map((t) => t.name).join(', ')}; ${ROUNDS} rounds of ${WARMUP}+${SECONDS} s each: ` +
    `small GET at ${FIXED_RATES.join(', ')} req/s (open-loop, ${RATE_CONNECTIONS} connections), then ` +
    `${SCENARIOS.length} scenarios at saturation (${tools.join('+')}, ${CONNECTIONS} connections) ` +
    `(about ${Math.ceil(estimateS / 60)} min)`)
  // All fixed-rate rounds first, so that their RssAnon is not the heap that 1 MiB bodies left behind.
  for (let round = 1; round <= ROUNDS; round++) {
    for (const rate of FIXED_RATES) for (const target of rotated(round)) rateRuns.push(await measureRate(round, rate, target))
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      for (const tool of toolsFor(scenario, tools)) {
        for (const target of rotated(round)) runs.push(await measure(round, scenario, tool, target))
      }
    }
  }
}
const loadEnded = performance.now()
await client.close()
const after = profiling ? undefined : await settledMemory(sidecar.pid!, loadEnded)
const tokenRequestsDuringLoad = (await tokenRequests()) - tokensBefore
const tokenSeconds = (Date.now() - firstTokenAt) / 1000
// SPEC: refresh at 0.8 ± 0.05 of the 300 s lifetime, so one more token every 225-255 s of a long run.
const expectedTokens = { min: sidecars * (1 + Math.floor(tokenSeconds / 255)), max: sidecars * (1 + Math.floor(tokenSeconds / 225)) }
const expectedText = expectedTokens.min === expectedTokens.max ? String(expectedTokens.min) : `${expectedTokens.min}-${expectedTokens.max}`
const sidecarHwmMiB = vmBytes([sidecar.pid!], 'VmHWM') / MiB
await stop(sidecar)
if (baseline !== undefined) await stop(baseline)
await nginx?.close()
const load1 = loadavg()

/** The V8 profile the sidecar wrote when it exited: self time by function and by package. */
function profileReport (): string {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error('the sidecar wrote no .cpuprofile')
  const { total, functions, packages } = selfTimes(join(dir, file))
  const pct = (s: number): string => `${(s * 100).toFixed(1)}%`
  return [
    `CPU profile ${join(dir, file)}: ${(total / 1000).toFixed(1)} s sampled (the sidecar's whole life), ${profiled}`,
    '', '| self time | share | function | where |', '|---:|---:|---|---|',
    ...functions.map((f) => `| ${f.ms.toFixed(0)} ms | ${pct(f.share)} | \`${f.name}\` | ${f.where} |`),
    '', '| self time by package | share |', '|---|---:|',
    ...packages.slice(0, 12).map((p) => `| ${p.name} | ${pct(p.share)} |`),
  ].join('\n')
}
const profile = profiling ? profileReport() : ''

const coldConfig = writeSidecarConfig(dir, 'cold', idp.info, upstream.info.port, { listen: 0, admin: 0 }, 'info')
const cold = []
if (!profiling) for (let i = 0; i < COLD_STARTS; i++) cold.push(await coldStartOnce(coldConfig))
await Promise.all([stop(idp.child), stop(upstream.child)])

const rows = summarize(runs)
const rateRows = summarizeRates(rateRuns)
const table = markdownTable(rows)
const fixedTable = rateTable(rateRows)
const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  node: NODE_BIN === process.execPath ? process.version : nodeVersion(NODE_BIN),
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
const mib = (v: number): string => `${v.toFixed(1)} MiB`
const clientVcpu = median(rateRuns.map((r) => (r.clientCpuS ?? 0) / r.wallS))
const tables = [
  ...(rateRows.length === 0
    ? []
    : [`fixed rate: small GET, open-loop client (own process, node:net), ${RATE_CONNECTIONS} keep-alive connections, latency from ` +
        'each request\'s scheduled send time (queueing counts); medians over rounds, max is the highest; vCPU = CPU s ÷ wall s of ' +
        `the window; RssAnon: peak over the windows (the client itself: ${clientVcpu.toFixed(3)} vCPU, median)`, '', fixedTable]),
  ...(rows.length === 0
    ? []
    : [`${rateRows.length === 0 ? '' : '\n'}saturation: ${tools.includes('wrk') ? `wrk -t1 -c${CONNECTIONS}` : ''}` +
        `${tools.includes('autocannon') ? `${tools.includes('wrk') ? ', ' : ''}autocannon -c${CONNECTIONS}` : ''}, as fast as the ` +
        'target answers; medians over rounds (± is half the min-max spread of req/s)', '', table]),
].join('\n')
const summary = [
  `${machine.cpus} × ${machine.cpuModel ?? 'CPU'}, Node ${machine.node}, ${machine.date}; ` +
    `load average ${load0.map((l) => l.toFixed(2)).join(' ')} before, ${load1.map((l) => l.toFixed(2)).join(' ')} after`,
  profiling
    ? `profile: one run of ${WARMUP} s warm-up + ${SECONDS} s measured through the sidecar only; loopback`
    : `${ROUNDS} rounds × (${WARMUP} s warm-up + ${SECONDS} s measured) of each table, the fixed-rate rounds first; ` +
      'target order rotated each round; loopback',
  `token requests seen by the IdP while the sidecar served all runs: ${tokenRequestsDuringLoad} in ${tokenSeconds.toFixed(0)} s ` +
    `(300 s tokens, refreshed at 0.8 ± 0.05 of their lifetime: expect ${expectedText})`,
  ...(NODE_ARGS.length === 0 ? [] : [`sidecar node flags: ${NODE_ARGS.join(' ')}`]),
  ...(BASELINE_ARGS === undefined ? [] : [`baseline node flags: ${BASELINE_ARGS.join(' ') || '(none)'}`]),
  ...(NODE_BIN === process.execPath ? [] : [`sidecars run on ${NODE_BIN} (${nodeVersion(NODE_BIN)})`]),
  ...(process.env.BENCH_CLI === undefined ? [] : [`sidecar: ${CLI}`]),
  ...(BASELINE_CLI === undefined ? [] : [`baseline: ${BASELINE_CLI} (its token requests are counted too: ${sidecars} sidecars)`]),
  `sidecar memory: idle (ready, before any load) RSS ${mib(idle.rssMiB)}, RssAnon ${mib(idle.rssAnonMiB)}` +
    (after === undefined
      ? ''
      : `; after the load RSS ${mib(after.rssMiB)}, RssAnon ${mib(after.rssAnonMiB)}, ${after.afterS.toFixed(1)} s after it ended ` +
        `(${after.stable ? 'stable: two samples 1 s apart within 0.5 MiB' : 'still moving at 15 s'})`) +
    `; peak RSS over the whole bench (VmHWM) ${mib(sidecarHwmMiB)}`,
  ...(coldStart === undefined
    ? []
    : [`cold start (spawn to 'tokenproxy listening' / to 'token obtained'), median of ${cold.length}: ` +
        `${coldStart.medianListeningMs.toFixed(0)} ms / ${coldStart.medianTokenMs.toFixed(0)} ms (information, not a target)`]),
  ...(nginx === undefined && !profiling ? ['nginx not installed: its rows and ratios are left out'] : []),
].join('\n')
const facts: RunFacts = {
  tokenRequests: tokenRequestsDuringLoad,
  expectedTokens,
  peakRssMiB: sidecarHwmMiB,
  idle,
  ...(after === undefined ? {} : { after }),
}
const verdicts = profiling ? [] : targetLines(rows, rateRows, facts)
const targetsText = verdicts.length === 0 ? '' : `\ntargets (issue 16):\n${verdicts.join('\n')}\n`
process.stdout.write(`\n${profiling ? `${profile}\n\n${tables}` : tables}\n\n${summary}\n${targetsText}`)

const out = flags.out ?? join(tmpdir(), `tokenproxy-bench-${started.toISOString().replace(/[:.]/g, '-')}.json`)
const results = {
  machine,
  params: {
    SECONDS,
    ROUNDS,
    WARMUP,
    CONNECTIONS,
    RATE_CONNECTIONS,
    FIXED_RATES,
    PROFILE_RATE,
    cli: CLI,
    baselineCli: BASELINE_CLI,
    nodeArgs: NODE_ARGS,
  },
  tokenSeconds,
  expectedTokens,
  tokenRequestsDuringLoad,
  sidecarHwmMiB,
  idle,
  after,
  facts,
  coldStart,
  rows,
  rateRows,
  runs,
  rateRuns,
  table,
  fixedTable,
  verdicts,
  profile: profile || undefined,
}
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
log(`results: ${out}`)
if (!profiling) rmSync(dir, { recursive: true, force: true })
