// The bench's arithmetic: wrk output parsed, runs grouped into medians and ratios, targets judged.
import t from 'tap'
import { parseWrk, type LoadResult } from './load.js'
import { markdownTable, summarize, targetLines, type Run } from './report.js'
import { SCENARIOS, toolsFor } from './scenarios.js'

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

  const verdicts = targetLines(rows, { tokenRequests: 1, expectedTokens: { min: 1, max: 1 }, peakRssMiB: 120, coldStartMs: 280 })
  t.same(verdicts, [
    'met      small GET req/s ≥ 0.35 × nginx (wrk): 0.48×',
    'NOT met  small GET p99 ≤ 2 × nginx\'s at saturation (wrk): 2.25×',
    'met      1 MiB GET MiB/s ≥ 0.8 × nginx (wrk): 0.85×',
    'NOT met  peak RSS under load ≤ 100 MiB: 120 MiB',
    'met      token requests: one per credential, plus one per refresh the run lasted through (1): 1',
    'met      cold start to listening ≤ 300 ms: 280 ms',
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
  t.same(targetLines(rows, { tokenRequests: 2, expectedTokens: { min: 2, max: 2 }, peakRssMiB: 90 }).slice(0, 2), [
    'met      small GET req/s ≥ 0.35 × nginx (wrk): 0.50×',
    'met      small GET p99 ≤ 2 × nginx\'s at saturation (wrk): 2.00×',
  ], 'targets judge tokenproxy, not the baseline')
})

t.test('a token request more than the run\'s length explains is a miss', async (t) => {
  t.same(targetLines([], { tokenRequests: 3, expectedTokens: { min: 1, max: 2 }, peakRssMiB: 90 }), [
    'met      peak RSS under load ≤ 100 MiB: 90 MiB',
    'NOT met  token requests: one per credential, plus one per refresh the run lasted through (1-2): 3',
  ])
})

t.test('toolsFor: fixed-rate scenarios on autocannon only, 1 MiB on wrk when installed', async (t) => {
  const byName = Object.fromEntries(SCENARIOS.map((s) => [s.name, s]))
  t.same(toolsFor(byName['small GET']!, ['autocannon', 'wrk']), ['autocannon', 'wrk'])
  t.same(toolsFor(byName['small GET @ 2k/s']!, ['autocannon', 'wrk']), ['autocannon'])
  t.same(toolsFor(byName['1 MiB GET']!, ['autocannon', 'wrk']), ['wrk'])
  t.same(toolsFor(byName['1 MiB POST']!, ['autocannon']), ['autocannon'], 'without wrk, autocannon still runs it')
})
