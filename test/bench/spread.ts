// Spread over several bench runs: every target line's value and the key table figures, min / median / max over the JSON files given.
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import @tapjs/typescript/import test/bench/spread.ts a.json b.json c.json
//
// Each file is what `npm run bench` writes (--out, or the default path it logs); the figures are recomputed from its raw runs.
import { readFileSync } from 'node:fs'
import { median, summarize, summarizeRates, verdicts, type RateRun, type Run, type RunFacts } from './report.js'
import { isMain } from './scenarios.js'

/** The part of a bench JSON this script reads (older files lack the fixed-rate runs and the memory facts). */
export interface BenchResults {
  runs: Run[]
  rateRuns?: RateRun[]
  facts?: RunFacts
  tokenRequestsDuringLoad?: number
  expectedTokens?: RunFacts['expectedTokens']
  sidecarHwmMiB?: number
}

export interface Figure { name: string, value: number }

export interface SpreadRow { name: string, runs: number, min: number, median: number, max: number }

/** One run's figures: each target line that has a value, then req/s at saturation, vCPU and p99 at each fixed rate, peak RSS. */
export function figures (results: BenchResults): Figure[] {
  const rows = summarize(results.runs)
  const rateRows = summarizeRates(results.rateRuns ?? [])
  const facts: RunFacts = results.facts ?? {
    tokenRequests: results.tokenRequestsDuringLoad ?? Number.NaN,
    expectedTokens: results.expectedTokens ?? { min: 1, max: 1 },
    peakRssMiB: results.sidecarHwmMiB ?? Number.NaN,
  }
  const out: Figure[] = []
  for (const v of verdicts(rows, rateRows, facts)) if (v.value !== undefined) out.push({ name: `target: ${v.what}`, value: v.value })
  for (const row of rows) {
    if (row.target === 'direct') continue
    out.push({ name: `saturation ${row.scenario} (${row.tool}): ${row.target} req/s`, value: row.rps })
  }
  for (const row of rateRows) { // by rate, then direct, baseline, tokenproxy, nginx
    const at = `at ${row.rate.toLocaleString('en-US')} req/s`
    const whose = row.vcpuIsUpstream ? ' (the upstream)' : ''
    if (row.vcpu !== undefined) out.push({ name: `${at}: ${row.target} vCPU${whose}`, value: row.vcpu })
    out.push({ name: `${at}: ${row.target} p99 ms`, value: row.p99Ms })
  }
  if (Number.isFinite(facts.peakRssMiB)) out.push({ name: 'peak RSS over the whole bench (VmHWM) MiB', value: facts.peakRssMiB })
  return out
}

/** Min / median / max of each figure over the runs, in first-seen order; a figure missing from a run is left out of that run. */
export function spread (runs: Figure[][]): SpreadRow[] {
  const byName = new Map<string, number[]>()
  for (const run of runs) {
    for (const f of run) if (Number.isFinite(f.value)) byName.set(f.name, [...(byName.get(f.name) ?? []), f.value])
  }
  return [...byName].map(([name, values]) => ({
    name, runs: values.length, min: Math.min(...values), median: median(values), max: Math.max(...values),
  }))
}

const num = (v: number): string => {
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function spreadTable (rows: SpreadRow[]): string {
  return [
    '| figure | runs | min | median | max |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.runs} | ${num(r.min)} | ${num(r.median)} | ${num(r.max)} |`),
  ].join('\n')
}

if (isMain(import.meta.url)) {
  const files = process.argv.slice(2)
  if (files.length === 0) {
    process.stderr.write('usage: node --import @tapjs/typescript/import test/bench/spread.ts RESULTS.json...\n')
    process.exit(2)
  }
  const all = files.map((f) => figures(JSON.parse(readFileSync(f, 'utf8')) as BenchResults))
  process.stdout.write(`${files.length} runs: ${files.join(', ')}\n\n${spreadTable(spread(all))}\n`)
}
