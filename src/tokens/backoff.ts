// Retry delays after failed token requests: exponential with jitter, slow end for rejected credentials.
import type { TokenOutcome } from '../credentials/token-error.js'

export interface BackoffOptions {
  initialMs: number
  maxMs: number
  /** ± this fraction of the delay. */
  jitter: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 60_000, jitter: 0.2 }

/** Delay before attempt `failures + 1`, given `failures` consecutive failures (≥ 1). */
export function backoffDelay (failures: number, outcome: TokenOutcome, opts: BackoffOptions, random: () => number): number {
  const base = outcome === 'rejected'
    ? opts.maxMs
    : Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(failures - 1, 30))
  // Jitter never takes a delay past the maximum: "1 s doubling to 60 s" means 60 s at most.
  return Math.min(opts.maxMs, Math.round(base * (1 + opts.jitter * (2 * random() - 1))))
}
