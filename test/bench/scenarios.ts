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
}

export const SCENARIOS: Scenario[] = [
  { name: 'small GET', method: 'GET', path: '/small', payloadBytes: SMALL_BYTES },
  { name: '1 MiB GET', method: 'GET', path: '/big', payloadBytes: BIG_BYTES },
  { name: '1 MiB POST', method: 'POST', path: '/sink', body: Buffer.alloc(BIG_BYTES, 'c'), payloadBytes: BIG_BYTES },
]

/** True when `moduleUrl` is the script node was started with (or forked on). */
export const isMain = (moduleUrl: string): boolean =>
  process.argv[1] !== undefined && new URL(moduleUrl).pathname === process.argv[1]
