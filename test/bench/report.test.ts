// The bench's arithmetic: wrk output parsed, runs grouped into medians and ratios, fixed-rate rows, targets judged, spread over runs.
import t from 'tap'
import { parseWrk, type LoadResult } from './load.js'
import type { OpenLoopResult } from './open-loop.js'
import {
  markdownTable, rateTable, summarize, summarizeRates, targetLines, verdicts, type RateRow, type RateRun, type Row, type Run,
  type RunFacts,
} from './report.js'
import { FIXED_RATES, SCENARIOS, toolsFor } from './scenarios.js'
import { figures, spread, spreadTable } from './spread.js'

const WRK = `Running 5s test @ http://127.0.0.1:41234/up/small
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.12ms    2.01ms  40.00ms   90.00%
    Req/Sec     9.80k   500.00    10.50k    70.00%
  Latency Distribution
     50%    4.66ms
     75%    5.50ms
     90%    7.00ms
     99%   19.80ms
  48750 requests in 5.00s, 12.00MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   9750.00
Transfer/sec:      2.40MB
`

t.test('parseWrk reads totals, percentiles in any unit, non-2xx and socket errors', async (t) => {
  const r = parseWrk(WRK)
  t.same(r, { requests: 48750, seconds: 5, rps: 9750, p50Ms: 4.66, p99Ms: 19.8, non2xx: 3, errors: 3 })
  const slow = parseWrk(WRK.replace('19.80ms', '1.20s').replace('4.66ms', '850.00us').replace(/\n {2}Non-2xx.*\n.*\n/, '\n'))
  t.equal(slow.p99Ms, 1200)
  t.equal(slow.p50Ms, 0.85)
  t.equal(slow.non2xx + slow.errors, 0, 'no error lines: zero')
  t.throws(() => parseWrk('wrk: connection refused'), /unexpected wrk output/)
})

const load = (rps: number, p99Ms: number): LoadResult => ({
  requests: rps * 5,
  seconds: 5,
  rps,
  p50Ms: p99Ms / 4,
  p99Ms,
  non2xx: 0,
  errors: 0,
})
function run (round: number, scenario: string, target: Run['target'], rps: number, p99Ms: number, extra: Partial<Run> = {}): Run {
  return {
    round,
    scenario,
    tool: 'wrk',
    target,
    load: load(rps, p99Ms),
    payloadBytes: scenario.startsWith('1 MiB') ? 1024 * 1024 : 100,
    upstreamCpuS: 0.5,
    ...extra,
  }
}

t.test('summarize takes medians over rounds and divides by direct and nginx of the same scenario and tool', async (t) => {
  const runs: Run[] = [
    run(1, 'small GET', 'direct', 40_000, 3), run(2, 'small GET', 'direct', 36_000, 3), run(3, 'small GET', 'direct', 38_000, 3),
    run(1, 'small GET', 'nginx', 20_000, 6, { proxyCpuS: 2, proxyPeakRssBytes: 12 * 2 ** 20 }),
    run(2, 'small GET', 'nginx', 24_000, 6, { proxyCpuS: 2.4, proxyPeakRssBytes: 13 * 2 ** 20 }),
    run(1, 'small GET', 'tokenproxy', 10_000, 15, { proxyCpuS: 5, proxyPeakRssBytes: 90 * 2 ** 20 }),
    run(2, 'small GET', 'tokenproxy', 11_000, 12, { proxyCpuS: 5.5, proxyPeakRssBytes: 110 * 2 ** 20 }),
    run(1, '1 MiB GET', 'nginx', 1000, 80),
    run(1, '1 MiB GET', 'tokenproxy', 850, 120),
  ]
  const rows = summarize(runs)
  t.same(rows.map((r) => `${r.scenario}/${r.target}`),
    ['small GET/direct', 'small GET/tokenproxy', 'small GET/nginx', '1 MiB GET/tokenproxy', '1 MiB GET/nginx'])
  const tp = rows[1]!
  t.equal(tp.rps, 10_500, 'median of two rounds')
  t.equal(tp.rpsVsDirect, 10_500 / 38_000)
  t.equal(tp.rpsVsNginx, 10_500 / 22_000)
  t.equal(tp.p99VsNginx, 13.5 / 6)
  t.equal(tp.proxyPeakRssMiB, 110, 'peak is the highest round')
  t.equal(tp.proxyCpuUsPerReq, 100, '5 s of CPU over 50,000 requests')
  t.equal(tp.cpuVsNginx, 100 / 20)
  t.equal(rows[3]!.mibPerS, 850)
  const table = markdownTable(rows)
  t.match(table, /\| small GET \| wrk \| tokenproxy \| 10,500 \|/)
  t.equal(table.split('\n').length, 2 + rows.length)

  const lines = targetLines(rows, [], { tokenRequests: 1, expectedTokens: { min: 1, max: 1 }, peakRssMiB: 120 })
  t.same(lines.filter((l) => l.includes('saturation') || l.includes('peak')), [
    'met      at saturation: small GET req/s ≥ 0.35 × nginx\'s: 0.48× (tokenproxy 10,500, nginx 22,000 req/s, wrk)',
    'met      at saturation: 1 MiB GET MiB/s ≥ 0.8 × nginx\'s: 0.85× (tokenproxy 850, nginx 1,000 MiB/s, wrk)',
    'n/a      at saturation: 1 MiB POST MiB/s ≥ 0.8 × nginx\'s: no tokenproxy and nginx 1 MiB POST runs',
    'NOT met  peak RSS over the whole bench (VmHWM) ≤ 100 MiB: 120 MiB',
  ])
})

t.test('a baseline build in the same run sorts before tokenproxy and gets the same ratios', async (t) => {
  const rows = summarize([
    run(1, 'small GET', 'nginx', 20_000, 6, { proxyCpuS: 2 }),
    run(1, 'small GET', 'tokenproxy', 10_000, 12, { proxyCpuS: 5 }),
    run(1, 'small GET', 'baseline', 8_000, 18, { proxyCpuS: 5.2 }),
  ])
  t.same(rows.map((r) => r.target), ['baseline', 'tokenproxy', 'nginx'])
  t.equal(rows[0]!.rpsVsNginx, 0.4)
  t.equal(rows[0]!.p99VsNginx, 3)
  t.ok(Math.abs(rows[0]!.cpuVsNginx! - 6.5) < 1e-9, 'CPU per request: 130 µs against 20')
  t.same(targetLines(rows, [], { tokenRequests: 2, expectedTokens: { min: 2, max: 2 }, peakRssMiB: 90 })
    .filter((l) => l.includes('small GET')), [
    'met      at saturation: small GET req/s ≥ 0.35 × nginx\'s: 0.50× (tokenproxy 10,000, nginx 20,000 req/s, wrk)',
  ], 'targets judge tokenproxy, not the baseline')
})

t.test('toolsFor: 1 MiB on wrk when installed; the saturation scenarios no longer include a fixed rate', async (t) => {
  const byName = Object.fromEntries(SCENARIOS.map((s) => [s.name, s]))
  t.same(SCENARIOS.map((s) => s.name), ['small GET', '1 MiB GET', '1 MiB POST'])
  t.same(FIXED_RATES, [200, 1000, 3000])
  t.same(toolsFor(byName['small GET']!, ['autocannon', 'wrk']), ['autocannon', 'wrk'])
  t.same(toolsFor(byName['1 MiB GET']!, ['autocannon', 'wrk']), ['wrk'])
  t.same(toolsFor(byName['1 MiB POST']!, ['autocannon']), ['autocannon'], 'without wrk, autocannon still runs it')
})

const openLoop = (p99Ms: number, extra: Partial<OpenLoopResult> = {}): OpenLoopResult => ({
  requests: 5000,
  seconds: 5,
  rps: 1000,
  answered: 5000,
  p50Ms: p99Ms / 4,
  p90Ms: p99Ms / 2,
  p99Ms,
  p999Ms: p99Ms * 2,
  maxMs: p99Ms * 3,
  non2xx: 0,
  errors: 0,
  scheduled: 5000,
  unfinished: 0,
  ...extra,
})
function rateRun (round: number, target: RateRun['target'], p99Ms: number, cpuS: number, extra: Partial<RateRun> = {}): RateRun {
  return {
    round,
    rate: 1000,
    target,
    load: openLoop(p99Ms),
    wallS: 5,
    upstreamCpuS: 0.5,
    ...(target === 'direct' ? {} : { proxyCpuS: cpuS, proxyPeakRssAnonBytes: 20 * 2 ** 20 }),
    ...extra,
  }
}
// Three rounds at 1,000 req/s. tokenproxy − direct per round: 0.5, 3.0, 0.6 ms: median 0.6, not 1.6 − 1.1 (the medians' difference).
const RATE_RUNS: RateRun[] = [
  rateRun(1, 'direct', 1.0, 0, { upstreamCpuS: 0.6 }), rateRun(2, 'direct', 1.1, 0), rateRun(3, 'direct', 5.0, 0, { upstreamCpuS: 0.7 }),
  rateRun(1, 'tokenproxy', 1.5, 1.5), rateRun(2, 'tokenproxy', 4.1, 2.5, { proxyPeakRssAnonBytes: 30 * 2 ** 20 }),
  rateRun(3, 'tokenproxy', 5.6, 2.0),
  rateRun(1, 'nginx', 1.2, 0.25), rateRun(2, 'nginx', 1.3, 0.5), rateRun(3, 'nginx', 1.4, 0.4, { load: openLoop(1.4, { errors: 2 }) }),
  rateRun(1, 'tokenproxy', 9, 1, { rate: 200 }),
]

t.test('summarizeRates: p99 added over direct per round, vCPU = CPU s ÷ wall s, ratio to nginx, RssAnon peak', async (t) => {
  const rows = summarizeRates(RATE_RUNS)
  t.same(rows.map((r) => `${r.rate}/${r.target}`), ['200/tokenproxy', '1000/direct', '1000/tokenproxy', '1000/nginx'])
  const [low, direct, tp, nginx] = rows as [RateRow, RateRow, RateRow, RateRow]
  t.ok(Math.abs(tp.p99AddedMs! - 0.6) < 1e-9, `median of the per-round differences: ${tp.p99AddedMs}`)
  t.equal(tp.p99Ms, 4.1)
  t.equal(tp.vcpu, 0.4, '2 s of CPU over a 5 s window (median of 0.3, 0.5, 0.4)')
  t.equal(nginx.vcpu, 0.08)
  t.ok(Math.abs(tp.cpuVsNginx! - 5) < 1e-9, '0.4 ÷ 0.08')
  t.equal(tp.rssAnonMiB, 30, 'the highest round')
  t.equal(tp.maxMs, 5.6 * 3, 'max over the rounds')
  t.equal(direct.vcpu, 0.12, 'direct: the upstream\'s vCPU (median of 0.12, 0.1, 0.14)')
  t.equal(direct.vcpuIsUpstream, true)
  t.equal(direct.p99AddedMs, undefined)
  t.equal(direct.cpuVsNginx, undefined)
  t.equal(nginx.cpuVsNginx, undefined)
  t.equal(nginx.errors, 2)
  t.equal(low.p99AddedMs, undefined, 'no direct run at 200 req/s')
  t.equal(low.cpuVsNginx, undefined, 'no nginx run at 200 req/s')
  const table = rateTable(rows)
  t.match(table, /\| 1,000 \| tokenproxy \| 1,000 \| 1.03 \| 2.05 \| 4.10 \| 8.20 \| 16.8 \| \+0.60 \| 0.400 \| 5.00× \| 30.0 \| 0.100 \|/)
  t.match(table, /\| 1,000 \| direct \| 1,000 \|.*\| — \| 0.120 ¹ \| — \| — \| 0.120 \|/)
  t.match(table, /\| 1,000 \| nginx \(0 non-2xx, 2 errors\) \|/)
  t.match(table, /¹ direct has no proxy: its vCPU is the upstream's, that is a bare node:http server/)
})

const SATURATION_ROWS = (tp: [number, number, number], nginx = 1000): Row[] => summarize([
  run(1, 'small GET', 'nginx', 20_000, 6, { proxyCpuS: 2 }), run(1, 'small GET', 'tokenproxy', tp[0], 12, { proxyCpuS: 5 }),
  run(1, '1 MiB GET', 'nginx', nginx, 80), run(1, '1 MiB GET', 'tokenproxy', tp[1], 120),
  run(1, '1 MiB POST', 'nginx', nginx, 80), run(1, '1 MiB POST', 'tokenproxy', tp[2], 120),
])
const FACTS: RunFacts = {
  tokenRequests: 1,
  expectedTokens: { min: 1, max: 1 },
  peakRssMiB: 95,
  idle: { rssMiB: 50, rssAnonMiB: 12 },
  after: { rssMiB: 58, rssAnonMiB: 18, afterS: 6.02, stable: true },
}

t.test('the issue 16 target lines: all met', async (t) => {
  const rateRows = summarizeRates([rateRun(1, 'direct', 1, 0), rateRun(1, 'tokenproxy', 1.8, 0.45), rateRun(1, 'nginx', 1.2, 0.25)])
  t.same(targetLines(SATURATION_ROWS([7000, 800, 900]), rateRows, FACTS), [
    'met      at 1,000 req/s: CPU ≤ 2 × nginx\'s: 1.80× (tokenproxy 0.090 vCPU, nginx 0.050)',
    'met      at 1,000 req/s: p99 added over direct ≤ 1 ms: 0.80 ms (tokenproxy p99 1.80 ms, direct 1.00 ms; ' +
      'median over rounds of the difference)',
    'met      at 1,000 req/s: RssAnon ≤ 32 MiB: 20 MiB (peak over the windows)',
    'met      at saturation: small GET req/s ≥ 0.35 × nginx\'s: 0.35× (tokenproxy 7,000, nginx 20,000 req/s, wrk)',
    'met      at saturation: 1 MiB GET MiB/s ≥ 0.8 × nginx\'s: 0.80× (tokenproxy 800, nginx 1,000 MiB/s, wrk)',
    'met      at saturation: 1 MiB POST MiB/s ≥ 0.8 × nginx\'s: 0.90× (tokenproxy 900, nginx 1,000 MiB/s, wrk)',
    'met      peak RSS over the whole bench (VmHWM) ≤ 100 MiB: 95 MiB',
    'met      after load, back near idle: RSS ≤ idle RSS + 10 MiB: +8.0 MiB (58 MiB 6.0 s after the load, idle 50 MiB; ' +
      'RssAnon 18 MiB, idle 12 MiB)',
    'met      token requests: one per credential, plus one per refresh the run lasted through (1): 1',
  ])
})

t.test('the issue 16 target lines: none met', async (t) => {
  const rateRows = summarizeRates([
    rateRun(1, 'direct', 1, 0), rateRun(1, 'tokenproxy', 2.004, 2.25, { proxyPeakRssAnonBytes: 40 * 2 ** 20 }),
    rateRun(1, 'nginx', 1.2, 0.5),
  ])
  const facts: RunFacts = {
    ...FACTS,
    tokenRequests: 3,
    expectedTokens: { min: 1, max: 2 },
    peakRssMiB: 101,
    after: { ...FACTS.after!, rssMiB: 60.3, stable: false },
  }
  t.same(targetLines(SATURATION_ROWS([6900, 790, 500]), rateRows, facts), [
    'NOT met  at 1,000 req/s: CPU ≤ 2 × nginx\'s: 4.50× (tokenproxy 0.450 vCPU, nginx 0.100)',
    'NOT met  at 1,000 req/s: p99 added over direct ≤ 1 ms: 1.004 ms (tokenproxy p99 2.00 ms, direct 1.00 ms; ' +
      'median over rounds of the difference)',
    'NOT met  at 1,000 req/s: RssAnon ≤ 32 MiB: 40 MiB (peak over the windows)',
    'NOT met  at saturation: small GET req/s ≥ 0.35 × nginx\'s: 0.345× (tokenproxy 6,900, nginx 20,000 req/s, wrk)',
    'NOT met  at saturation: 1 MiB GET MiB/s ≥ 0.8 × nginx\'s: 0.79× (tokenproxy 790, nginx 1,000 MiB/s, wrk)',
    'NOT met  at saturation: 1 MiB POST MiB/s ≥ 0.8 × nginx\'s: 0.50× (tokenproxy 500, nginx 1,000 MiB/s, wrk)',
    'NOT met  peak RSS over the whole bench (VmHWM) ≤ 100 MiB: 101 MiB',
    'NOT met  after load, back near idle: RSS ≤ idle RSS + 10 MiB: +10.3 MiB (60 MiB 6.0 s after the load, still moving, ' +
      'idle 50 MiB; RssAnon 18 MiB, idle 12 MiB)',
    'NOT met  token requests: one per credential, plus one per refresh the run lasted through (1-2): 3',
  ])
  const afterLoad = verdicts([], rateRows, facts).find((v) => v.what.startsWith('after load'))!
  t.ok(Math.abs(afterLoad.value! - 10.3) < 1e-9, 'the value is after − idle')
})

t.test('target lines without the runs they need say n/a', async (t) => {
  const lines = targetLines([], summarizeRates([rateRun(1, 'tokenproxy', 2, 1)]), { ...FACTS, idle: undefined })
  t.same(lines.filter((l) => l.startsWith('n/a')).map((l) => l.replace(/:.*?: /, ': ')), [
    'n/a      at 1,000 req/s: no tokenproxy and nginx runs at 1,000 req/s',
    'n/a      at 1,000 req/s: no tokenproxy and direct runs at 1,000 req/s',
    'n/a      at saturation: no tokenproxy and nginx small GET runs',
    'n/a      at saturation: no tokenproxy and nginx 1 MiB GET runs',
    'n/a      at saturation: no tokenproxy and nginx 1 MiB POST runs',
    'n/a      after load, back near idle: not measured',
  ])
  t.ok(lines.includes('met      at 1,000 req/s: RssAnon ≤ 32 MiB: 20 MiB (peak over the windows)'))
})

t.test('spread: each figure\'s min, median and max over the runs, from their raw runs', async (t) => {
  const results = (tpRps: number, p99: number, peak: number): Parameters<typeof figures>[0] => ({
    runs: [run(1, 'small GET', 'direct', 40_000, 3), run(1, 'small GET', 'nginx', 20_000, 6, { proxyCpuS: 2 }),
      run(1, 'small GET', 'tokenproxy', tpRps, 12, { proxyCpuS: 5 })],
    rateRuns: [rateRun(1, 'direct', 1, 0), rateRun(1, 'tokenproxy', p99, 1), rateRun(1, 'nginx', 1.2, 0.25)],
    facts: { ...FACTS, peakRssMiB: peak },
  })
  const one = figures(results(8000, 2, 90))
  const byName = Object.fromEntries(one.map((f) => [f.name, f.value]))
  t.equal(byName['target: at saturation: small GET req/s ≥ 0.35 × nginx\'s'], 0.4)
  t.equal(byName['target: at 1,000 req/s: p99 added over direct ≤ 1 ms'], 1)
  t.equal(byName['target: at 1,000 req/s: CPU ≤ 2 × nginx\'s'], 4)
  t.equal(byName['saturation small GET (wrk): tokenproxy req/s'], 8000)
  t.equal(byName['saturation small GET (wrk): nginx req/s'], 20_000)
  t.equal(byName['at 1,000 req/s: tokenproxy vCPU'], 0.2)
  t.equal(byName['at 1,000 req/s: direct vCPU (the upstream)'], 0.1)
  t.equal(byName['at 1,000 req/s: nginx p99 ms'], 1.2)
  t.equal(byName['peak RSS over the whole bench (VmHWM) MiB'], 90)
  t.notOk(one.some((f) => f.name.includes('1 MiB')), 'figures a run lacks are left out')

  const rows = spread([figures(results(8000, 2, 90)), figures(results(6000, 4, 120)), figures(results(10_000, 2.5, 100))])
  const row = (name: string): unknown => rows.find((r) => r.name === name)
  t.same(row('saturation small GET (wrk): tokenproxy req/s'),
    { name: 'saturation small GET (wrk): tokenproxy req/s', runs: 3, min: 6000, median: 8000, max: 10_000 })
  t.same(row('target: at 1,000 req/s: p99 added over direct ≤ 1 ms'),
    { name: 'target: at 1,000 req/s: p99 added over direct ≤ 1 ms', runs: 3, min: 1, median: 1.5, max: 3 })
  t.same(row('peak RSS over the whole bench (VmHWM) MiB'),
    { name: 'peak RSS over the whole bench (VmHWM) MiB', runs: 3, min: 90, median: 100, max: 120 })
  t.same(spread([[{ name: 'a', value: 1 }], [{ name: 'a', value: 3 }, { name: 'b', value: 5 }]]),
    [{ name: 'a', runs: 2, min: 1, median: 2, max: 3 }, { name: 'b', runs: 1, min: 5, median: 5, max: 5 }], 'a figure a run lacks')
  const table = spreadTable(rows)
  t.match(table, /\| saturation small GET \(wrk\): tokenproxy req\/s \| 3 \| 6,000 \| 8,000 \| 10,000 \|/)
  t.match(table, /\| at 1,000 req\/s: tokenproxy vCPU \| 3 \| 0.200 \| 0.200 \| 0.200 \|/)

  const old = figures({ runs: [], tokenRequestsDuringLoad: 2, expectedTokens: { min: 2, max: 2 }, sidecarHwmMiB: 150 })
  t.same(old.filter((f) => f.name.startsWith('peak') || f.name.startsWith('target: token')).map((f) => f.value), [2, 150],
    'an older JSON without facts still gives its token count and peak RSS')
})
