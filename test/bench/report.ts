// Bench results: medians over rounds, ratios to the direct and nginx runs of the same bench, a markdown table.
import type { LoadResult, Tool } from './load.js'

/** `baseline`: another tokenproxy build in the same run (BENCH_BASELINE_CLI), for a before/after. */
export type Target = 'direct' | 'tokenproxy' | 'baseline' | 'nginx'

/** One measured run: one target, scenario and tool in one round. */
export interface Run {
  round: number
  scenario: string
  tool: Tool
  target: Target
  load: LoadResult
  payloadBytes: number
  /** CPU seconds of the proxy's processes during the run (none for direct). */
  proxyCpuS?: number
  upstreamCpuS: number
  /** Highest summed VmRSS of the proxy's processes during the run. */
  proxyPeakRssBytes?: number
}

export interface Row {
  scenario: string
  tool: Tool
  target: Target
  rounds: number
  rps: number
  /** Half the min-max range of req/s over the rounds, as a fraction of the median. */
  rpsSpread: number
  p50Ms: number
  p99Ms: number
  mibPerS: number
  proxyCpuUsPerReq?: number
  upstreamCpuUsPerReq: number
  proxyPeakRssMiB?: number
  non2xx: number
  errors: number
  rpsVsDirect?: number
  rpsVsNginx?: number
  cpuVsNginx?: number
  p99VsNginx?: number
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
export { median }

function rowOf (runs: Run[]): Row {
  const first = runs[0]!
  const rps = runs.map((r) => r.load.rps)
  const m = median(rps)
  const perReq = (cpu: number, r: Run): number => (cpu / Math.max(1, r.load.requests)) * 1e6
  const proxied = runs.filter((r) => r.proxyCpuS !== undefined)
  return {
    scenario: first.scenario,
    tool: first.tool,
    target: first.target,
    rounds: runs.length,
    rps: m,
    rpsSpread: m === 0 ? 0 : (Math.max(...rps) - Math.min(...rps)) / 2 / m,
    p50Ms: median(runs.map((r) => r.load.p50Ms)),
    p99Ms: median(runs.map((r) => r.load.p99Ms)),
    mibPerS: median(runs.map((r) => r.load.rps * r.payloadBytes / 1024 / 1024)),
    ...(proxied.length === 0
      ? {}
      : {
          proxyCpuUsPerReq: median(proxied.map((r) => perReq(r.proxyCpuS!, r))),
          proxyPeakRssMiB: Math.max(...proxied.map((r) => r.proxyPeakRssBytes ?? 0)) / 1024 / 1024,
        }),
    upstreamCpuUsPerReq: median(runs.map((r) => perReq(r.upstreamCpuS, r))),
    non2xx: runs.reduce((a, r) => a + r.load.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.load.errors, 0),
  }
}

const TARGETS: Target[] = ['direct', 'baseline', 'tokenproxy', 'nginx']

/** Groups runs by scenario, tool and target (in first-seen order) and adds the ratios. */
export function summarize (runs: Run[]): Row[] {
  const groups = new Map<string, Run[]>()
  for (const r of runs) {
    const key = `${r.scenario}\0${r.tool}\0${r.target}`
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  const rows = [...groups.values()].map(rowOf)
  const find = (row: Row, target: Target): Row | undefined =>
    rows.find((o) => o.scenario === row.scenario && o.tool === row.tool && o.target === target)
  for (const row of rows) {
    const direct = find(row, 'direct')
    const nginx = find(row, 'nginx')
    if (direct !== undefined && direct.rps > 0) row.rpsVsDirect = row.rps / direct.rps
    if (nginx !== undefined && nginx.rps > 0) row.rpsVsNginx = row.rps / nginx.rps
    if (nginx?.proxyCpuUsPerReq !== undefined && row.proxyCpuUsPerReq !== undefined) {
      row.cpuVsNginx = row.proxyCpuUsPerReq / nginx.proxyCpuUsPerReq
    }
    if (nginx !== undefined && nginx.p99Ms > 0) row.p99VsNginx = row.p99Ms / nginx.p99Ms
  }
  const scenarios = [...new Set(rows.map((r) => r.scenario))]
  const rank = (r: Row): number => (scenarios.indexOf(r.scenario) * 10 + (r.tool === 'autocannon' ? 0 : 1)) * 10 + TARGETS.indexOf(r.target)
  return rows.sort((a, b) => rank(a) - rank(b))
}

const fmt = (v: number | undefined, digits: number): string =>
  v === undefined || !Number.isFinite(v)
    ? '—'
    : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const ratio = (v: number | undefined): string => (v === undefined ? '—' : `${fmt(v, 2)}×`)

export function markdownTable (rows: Row[]): string {
  const header = ['scenario', 'tool', 'target', 'req/s', '±', 'p50 ms', 'p99 ms', 'MiB/s', 'proxy CPU µs/req', 'proxy peak RSS MiB',
    'req/s ÷ direct', 'req/s ÷ nginx', 'CPU/req ÷ nginx', 'p99 ÷ nginx']
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`]
  for (const r of rows) {
    const flag = r.non2xx + r.errors > 0 ? ` (${r.non2xx} non-2xx, ${r.errors} errors)` : ''
    lines.push(`| ${[
      r.scenario, r.tool, r.target + flag, fmt(r.rps, 0), `${fmt(r.rpsSpread * 100, 0)}%`,
      fmt(r.p50Ms, r.p50Ms < 10 ? 2 : 1), fmt(r.p99Ms, r.p99Ms < 10 ? 2 : 1), fmt(r.mibPerS, r.mibPerS < 10 ? 2 : 0),
      fmt(r.proxyCpuUsPerReq, 0), fmt(r.proxyPeakRssMiB, 0),
      ratio(r.target === 'direct' ? undefined : r.rpsVsDirect), ratio(r.target === 'nginx' ? undefined : r.rpsVsNginx),
      ratio(r.target === 'nginx' ? undefined : r.cpuVsNginx), ratio(r.target === 'nginx' ? undefined : r.p99VsNginx),
    ].join(' | ')} |`)
  }
  return lines.join('\n')
}

export interface RunFacts {
  tokenRequests: number
  /** Token requests that the run's length explains: the first, plus one per refresh it lasted through. */
  expectedTokens: { min: number, max: number }
  peakRssMiB: number
  coldStartMs?: number
}

/** The issue's targets, each with this run's value and a verdict. */
export function targetLines (rows: Row[], facts: RunFacts): string[] {
  const tp = (scenario: string, tool: Tool): Row | undefined =>
    rows.find((r) => r.scenario === scenario && r.tool === tool && r.target === 'tokenproxy')
  const lines: string[] = []
  const check = (what: string, value: number | undefined, ok: (v: number) => boolean, show: (v: number) => string): void => {
    if (value === undefined) return
    lines.push(`${ok(value) ? 'met    ' : 'NOT met'}  ${what}: ${show(value)}`)
  }
  const x = (v: number): string => `${fmt(v, 2)}×`
  for (const tool of ['wrk', 'autocannon'] as const) {
    check(`small GET req/s ≥ 0.35 × nginx (${tool})`, tp('small GET', tool)?.rpsVsNginx, (v) => v >= 0.35, x)
    check(`small GET p99 ≤ 2 × nginx's at saturation (${tool})`, tp('small GET', tool)?.p99VsNginx, (v) => v <= 2, x)
  }
  check('small GET p99 ≤ 2 × nginx\'s at 2,000 req/s (autocannon)', tp('small GET @ 2k/s', 'autocannon')?.p99VsNginx, (v) => v <= 2, x)
  for (const scenario of ['1 MiB GET', '1 MiB POST']) {
    const row = tp(scenario, 'wrk') ?? tp(scenario, 'autocannon')
    check(`${scenario} MiB/s ≥ 0.8 × nginx (${row?.tool ?? ''})`, row?.rpsVsNginx, (v) => v >= 0.8, x)
  }
  check('peak RSS under load ≤ 100 MiB', facts.peakRssMiB, (v) => v <= 100, (v) => `${fmt(v, 0)} MiB`)
  const { min, max } = facts.expectedTokens
  check(`token requests: one per credential, plus one per refresh the run lasted through (${min === max ? min : `${min}-${max}`})`,
    facts.tokenRequests, (v) => v >= min && v <= max, (v) => String(v))
  check('cold start to listening ≤ 300 ms', facts.coldStartMs, (v) => v <= 300, (v) => `${fmt(v, 0)} ms`)
  return lines
}
