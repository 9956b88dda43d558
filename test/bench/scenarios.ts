// The bench's request shapes: what each scenario sends, to which upstream path, and how many payload bytes move.
export const SMALL_BYTES = 100
export const BIG_BYTES = 1024 * 1024

export interface Scenario {
  name: string
  method: 'GET' | 'POST'
  /** Path on the upstream (the proxies map their own prefix onto it). */
  path: string
  body?: Buffer
  /** Request plus response body bytes per request, for MiB/s. */
  payloadBytes: number
  /**
   * A fixed offered load (req/s over all connections) instead of as fast as possible: at saturation a
   * closed-loop client's latency is connections ÷ throughput for any proxy (Little's law), so p99 is
   * only comparable between proxies at the same rate. autocannon only (wrk cannot hold a rate).
   */
  rate?: number
  /** 1 MiB bodies saturate autocannon itself (a few hundred req/s even direct): wrk only, when installed. */
  wrkOnly?: boolean
}

export const SCENARIOS: Scenario[] = [
  { name: 'small GET', method: 'GET', path: '/small', payloadBytes: SMALL_BYTES },
  { name: 'small GET @ 2k/s', method: 'GET', path: '/small', payloadBytes: SMALL_BYTES, rate: 2000 },
  { name: '1 MiB GET', method: 'GET', path: '/big', payloadBytes: BIG_BYTES, wrkOnly: true },
  { name: '1 MiB POST', method: 'POST', path: '/sink', body: Buffer.alloc(BIG_BYTES, 'c'), payloadBytes: BIG_BYTES, wrkOnly: true },
]

/** The load generators that run `scenario`, of those available. */
export function toolsFor<T extends string> (scenario: Scenario, available: T[]): T[] {
  if (scenario.rate !== undefined) return available.filter((t) => t === 'autocannon')
  if (scenario.wrkOnly === true && available.includes('wrk' as T)) return available.filter((t) => t === 'wrk')
  return available
}

/** True when `moduleUrl` is the script node was started with (or forked on). */
export const isMain = (moduleUrl: string): boolean =>
  process.argv[1] !== undefined && new URL(moduleUrl).pathname === process.argv[1]
