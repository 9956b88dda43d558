// Bench results: medians over rounds, ratios to the direct and nginx runs of the same bench, markdown tables, the targets judged.
import type { LoadResult, Tool } from './load.js'
import type { OpenLoopResult } from './open-loop.js'

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

/** One fixed-rate run: one target at one offered rate in one round, driven by the open-loop client. */
export interface RateRun {
  round: number
  rate: number
  target: Target
  load: OpenLoopResult
  /** Wall seconds of the measured window, as the bench process saw it (the CPU figures are over the same span). */
  wallS: number
  upstreamCpuS: number
  /** CPU seconds of the open-loop client's process during the window. */
  clientCpuS?: number
  /** CPU seconds of the proxy's processes during the window (none for direct). */
  proxyCpuS?: number
  /** Highest summed RssAnon of the proxy's processes during the window. */
  proxyPeakRssAnonBytes?: number
}

export interface RateRow {
  rate: number
  target: Target
  rounds: number
  rps: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  p999Ms: number
  /** Highest over the rounds. */
  maxMs: number
  /** Target p99 − direct p99 of the same rate and round, median over the rounds that have both. */
  p99AddedMs?: number
  /** CPU seconds ÷ wall seconds, median over rounds: the proxy's, or for direct the upstream's (`vcpuIsUpstream`). */
  vcpu?: number
  vcpuIsUpstream: boolean
  /** `vcpu` ÷ nginx's `vcpu` at the same rate (ratio of the medians). */
  cpuVsNginx?: number
  /** Highest RssAnon over the rounds. */
  rssAnonMiB?: number
  upstreamVcpu: number
  non2xx: number
  errors: number
  unfinished: number
}

/** Groups fixed-rate runs by rate and target, takes medians over rounds, and the differences and ratios to direct and nginx. */
export function summarizeRates (runs: RateRun[]): RateRow[] {
  const groups = new Map<string, RateRun[]>()
  for (const r of runs) groups.set(`${r.rate}\0${r.target}`, [...(groups.get(`${r.rate}\0${r.target}`) ?? []), r])
  const rows: RateRow[] = [...groups.values()].map((group) => {
    const first = group[0]!
    const isDirect = first.target === 'direct'
    const proxied = group.filter((r) => r.proxyCpuS !== undefined)
    const vcpus = isDirect ? group.map((r) => r.upstreamCpuS / r.wallS) : proxied.map((r) => r.proxyCpuS! / r.wallS)
    const rss = group.filter((r) => r.proxyPeakRssAnonBytes !== undefined)
    const added = group.flatMap((r) => {
      const direct = runs.find((d) => d.target === 'direct' && d.rate === r.rate && d.round === r.round)
      return direct === undefined || isDirect ? [] : [r.load.p99Ms - direct.load.p99Ms]
    })
    return {
      rate: first.rate,
      target: first.target,
      rounds: group.length,
      rps: median(group.map((r) => r.load.rps)),
      p50Ms: median(group.map((r) => r.load.p50Ms)),
      p90Ms: median(group.map((r) => r.load.p90Ms)),
      p99Ms: median(group.map((r) => r.load.p99Ms)),
      p999Ms: median(group.map((r) => r.load.p999Ms)),
      maxMs: Math.max(...group.map((r) => r.load.maxMs)),
      ...(added.length === 0 ? {} : { p99AddedMs: median(added) }),
      ...(vcpus.length === 0 ? {} : { vcpu: median(vcpus) }),
      vcpuIsUpstream: isDirect,
      ...(rss.length === 0 ? {} : { rssAnonMiB: Math.max(...rss.map((r) => r.proxyPeakRssAnonBytes!)) / 1024 / 1024 }),
      upstreamVcpu: median(group.map((r) => r.upstreamCpuS / r.wallS)),
      non2xx: group.reduce((a, r) => a + r.load.non2xx, 0),
      errors: group.reduce((a, r) => a + r.load.errors, 0),
      unfinished: group.reduce((a, r) => a + r.load.unfinished, 0),
    }
  })
  for (const row of rows) {
    const nginx = rows.find((o) => o.rate === row.rate && o.target === 'nginx')
    if (row.target !== 'direct' && row.target !== 'nginx' && row.vcpu !== undefined && nginx?.vcpu !== undefined && nginx.vcpu > 0) {
      row.cpuVsNginx = row.vcpu / nginx.vcpu
    }
  }
  return rows.sort((a, b) => (a.rate - b.rate) || (TARGETS.indexOf(a.target) - TARGETS.indexOf(b.target)))
}

const ms = (v: number | undefined): string => fmt(v, v !== undefined && Math.abs(v) < 10 ? 2 : 1)

export function rateTable (rows: RateRow[]): string {
  const header = ['rate', 'target', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'p99 added over direct ms',
    'proxy vCPU', 'CPU ÷ nginx', 'RssAnon MiB', 'upstream vCPU']
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 1 ? '---' : '---:')).join('|')}|`]
  for (const r of rows) {
    const flag = r.non2xx + r.errors + r.unfinished > 0
      ? ` (${r.non2xx} non-2xx, ${r.errors} errors${r.unfinished > 0 ? `, ${r.unfinished} unfinished` : ''})`
      : ''
    lines.push(`| ${[
      fmt(r.rate, 0), r.target + flag, fmt(r.rps, 0), ms(r.p50Ms), ms(r.p90Ms), ms(r.p99Ms), ms(r.p999Ms), ms(r.maxMs),
      r.p99AddedMs === undefined ? '—' : `${r.p99AddedMs >= 0 ? '+' : ''}${ms(r.p99AddedMs)}`,
      r.vcpuIsUpstream ? `${fmt(r.vcpu, 3)} ¹` : fmt(r.vcpu, 3), ratio(r.cpuVsNginx), fmt(r.rssAnonMiB, 1), fmt(r.upstreamVcpu, 3),
    ].join(' | ')} |`)
  }
  if (rows.some((r) => r.vcpuIsUpstream)) {
    lines.push('', '¹ direct has no proxy: its vCPU is the upstream\'s, that is a bare node:http server')
  }
  return lines.join('\n')
}

export interface MemorySample { rssMiB: number, rssAnonMiB: number }

export interface RunFacts {
  tokenRequests: number
  /** Token requests that the run's length explains: the first, plus one per refresh it lasted through. */
  expectedTokens: { min: number, max: number }
  /** The sidecar's VmHWM at the end of the bench. */
  peakRssMiB: number
  /** After the sidecar was ready, before any load. */
  idle?: MemorySample
  /** After all load ended: the first stable sample (or the last one), `afterS` seconds after the load. */
  after?: MemorySample & { afterS: number, stable: boolean }
}

/** One of the issue's targets: its value in this run (undefined when the run lacks a figure), the verdict and how to show it. */
export interface Verdict { what: string, value?: number, ok?: boolean, text: string }

/** The rule for "back near idle": RSS after the load at most this much above the idle RSS. */
export const AFTER_LOAD_SLACK_MIB = 10
const SATURATION: Array<{ scenario: string, unit: 'req/s' | 'MiB/s', min: number }> = [
  { scenario: 'small GET', unit: 'req/s', min: 0.35 },
  { scenario: '1 MiB GET', unit: 'MiB/s', min: 0.8 },
  { scenario: '1 MiB POST', unit: 'MiB/s', min: 0.8 },
]

/** Issue 16's targets, judged on tokenproxy (not on a baseline build). */
export function verdicts (rows: Row[], rateRows: RateRow[], facts: RunFacts): Verdict[] {
  const out: Verdict[] = []
  // A value shown against its limit gets more digits where rounding would make it look equal to the limit (0.345 is not 0.35).
  const near = (v: number, digits: number, limit?: number): string => {
    if (limit === undefined || v === limit) return fmt(v, digits)
    for (let d = digits; d < digits + 3; d++) if (Number(fmt(v, d).replace(/,/g, '')) !== limit) return fmt(v, d)
    return fmt(v, digits + 3)
  }
  const x = (v: number, limit?: number): string => `${near(v, 2, limit)}×`
  const mib = (v: number, limit?: number): string => `${near(v, v < 10 ? 1 : 0, limit)} MiB`
  const judge = (what: string, value: number | undefined, ok: (v: number) => boolean, text: (v: number) => string,
    missing: string): void => {
    out.push(value === undefined || !Number.isFinite(value) ? { what, text: missing } : { what, value, ok: ok(value), text: text(value) })
  }
  const at = (target: Target): RateRow | undefined => rateRows.find((r) => r.rate === 1000 && r.target === target)
  const tp = at('tokenproxy')
  const ng = at('nginx')
  judge('at 1,000 req/s: CPU ≤ 2 × nginx\'s', tp?.cpuVsNginx, (v) => v <= 2,
    (v) => `${x(v, 2)} (tokenproxy ${fmt(tp!.vcpu, 3)} vCPU, nginx ${fmt(ng!.vcpu, 3)})`, 'no tokenproxy and nginx runs at 1,000 req/s')
  const direct = at('direct')
  judge('at 1,000 req/s: p99 added over direct ≤ 1 ms', tp?.p99AddedMs, (v) => v <= 1,
    (v) => `${near(v, Math.abs(v) < 10 ? 2 : 1, 1)} ms ` +
      `(tokenproxy p99 ${ms(tp!.p99Ms)} ms, direct ${ms(direct?.p99Ms)} ms; median over rounds of the difference)`,
    'no tokenproxy and direct runs at 1,000 req/s')
  judge('at 1,000 req/s: RssAnon ≤ 32 MiB', tp?.rssAnonMiB, (v) => v <= 32, (v) => `${mib(v, 32)} (peak over the windows)`,
    'no tokenproxy run at 1,000 req/s')
  for (const { scenario, unit, min } of SATURATION) {
    const pick = (target: Target): Row | undefined =>
      rows.find((r) => r.scenario === scenario && r.tool === 'wrk' && r.target === target) ??
      rows.find((r) => r.scenario === scenario && r.target === target)
    const row = pick('tokenproxy')
    const nginx = pick('nginx')
    const figure = (r: Row | undefined): string => (unit === 'req/s' ? fmt(r?.rps, 0) : fmt(r?.mibPerS, 0))
    judge(`at saturation: ${scenario} ${unit} ≥ ${min} × nginx's`, row?.rpsVsNginx, (v) => v >= min,
      (v) => `${x(v, min)} (tokenproxy ${figure(row)}, nginx ${figure(nginx)} ${unit}, ${row!.tool})`,
      `no tokenproxy and nginx ${scenario} runs`)
  }
  judge('peak RSS over the whole bench (VmHWM) ≤ 100 MiB', facts.peakRssMiB, (v) => v <= 100, (v) => mib(v, 100), 'not measured')
  const { idle, after } = facts
  judge(`after load, back near idle: RSS ≤ idle RSS + ${AFTER_LOAD_SLACK_MIB} MiB`,
    idle === undefined || after === undefined ? undefined : after.rssMiB - idle.rssMiB, (v) => v <= AFTER_LOAD_SLACK_MIB,
    (v) => `${v >= 0 ? '+' : ''}${mib(v, AFTER_LOAD_SLACK_MIB)} (${mib(after!.rssMiB)} ${fmt(after!.afterS, 1)} s after the load` +
      `${after!.stable ? '' : ', still moving'}, idle ${mib(idle!.rssMiB)}; ` +
      `RssAnon ${mib(after!.rssAnonMiB)}, idle ${mib(idle!.rssAnonMiB)})`,
    'not measured')
  const { min, max } = facts.expectedTokens
  judge(`token requests: one per credential, plus one per refresh the run lasted through (${min === max ? min : `${min}-${max}`})`,
    facts.tokenRequests, (v) => v >= min && v <= max, (v) => String(v), 'not counted')
  return out
}

export const verdictLine = (v: Verdict): string => `${v.ok === undefined ? 'n/a    ' : v.ok ? 'met    ' : 'NOT met'}  ${v.what}: ${v.text}`

/** The issue's targets, each with this run's value and a verdict. */
export function targetLines (rows: Row[], rateRows: RateRow[], facts: RunFacts): string[] {
  return verdicts(rows, rateRows, facts).map(verdictLine)
}
