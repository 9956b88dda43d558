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
  /** 1 MiB bodies saturate autocannon itself (a few hundred req/s even direct): wrk only, when installed. */
  wrkOnly?: boolean
}

/**
 * The saturation scenarios (wrk, as fast as the target answers). At saturation a closed-loop client's latency is connections ÷
 * throughput for any proxy (Little's law), so latency is compared at fixed rates instead: FIXED_RATES, open-loop.ts.
 */
export const SCENARIOS: Scenario[] = [
  { name: 'small GET', method: 'GET', path: '/small', payloadBytes: SMALL_BYTES },
  { name: '1 MiB GET', method: 'GET', path: '/big', payloadBytes: BIG_BYTES, wrkOnly: true },
  { name: '1 MiB POST', method: 'POST', path: '/sink', body: Buffer.alloc(BIG_BYTES, 'c'), payloadBytes: BIG_BYTES, wrkOnly: true },
]

/** The fixed-rate table: small GETs at these offered rates (req/s over all connections), open-loop. */
export const FIXED_RATES = [200, 1000, 3000]
export const FIXED_RATE_SCENARIO = SCENARIOS[0]!

/** The load generators that run `scenario`, of those available. */
export function toolsFor<T extends string> (scenario: Scenario, available: T[]): T[] {
  if (scenario.wrkOnly === true && available.includes('wrk' as T)) return available.filter((t) => t === 'wrk')
  return available
}

/** True when `moduleUrl` is the script node was started with (or forked on). */
export const isMain = (moduleUrl: string): boolean =>
  process.argv[1] !== undefined && new URL(moduleUrl).pathname === process.argv[1]
