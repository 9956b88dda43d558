// Token-request retry delays double from initialMs to maxMs, stay within ± jitter, and use the slow end for rejected credentials.
import t from 'tap'
import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from '../../src/tokens/backoff.js'

const OPTS: BackoffOptions = { initialMs: 1000, maxMs: 60_000, jitter: 0.2 }
const mid = (): number => 0.5

t.test('defaults are the SPEC backoff: 1 s doubling to 60 s', async (t) => {
  t.equal(DEFAULT_BACKOFF.initialMs, 1000)
  t.equal(DEFAULT_BACKOFF.maxMs, 60_000)
  t.ok(DEFAULT_BACKOFF.jitter > 0 && DEFAULT_BACKOFF.jitter < 1, 'there is some jitter')
})

t.test('doubles from initialMs up to maxMs, then stays there', async (t) => {
  const delays = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => backoffDelay(n, 'error', OPTS, mid))
  t.same(delays, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000])
  t.equal(backoffDelay(1000, 'error', OPTS, mid), 60_000, 'a huge failure count neither overflows nor returns NaN')
  t.same([1, 2, 3, 4, 5].map((n) => backoffDelay(n, 'error', { initialMs: 100, maxMs: 1000, jitter: 0 }, Math.random)),
    [100, 200, 400, 800, 1000], 'no jitter: exact, whatever random says')
})

t.test('jitter: random 0 gives the low bound, random 1 the high bound, in between stays inside', async (t) => {
  for (const failures of [1, 3, 10]) {
    const base = backoffDelay(failures, 'error', OPTS, mid)
    t.equal(backoffDelay(failures, 'error', OPTS, () => 0), Math.round(base * 0.8), `failures=${failures}: -20%`)
    t.equal(backoffDelay(failures, 'error', OPTS, () => 1), Math.min(OPTS.maxMs, Math.round(base * 1.2)),
      `failures=${failures}: +20% (never past maxMs)`)
    let inside = true
    for (let i = 0; i < 200; i++) {
      const r = i / 200
      const d = backoffDelay(failures, 'error', OPTS, () => r)
      if (d < Math.round(base * 0.8) || d > Math.min(OPTS.maxMs, Math.round(base * 1.2))) inside = false
    }
    t.ok(inside, `failures=${failures}: every random value in [0, 1) stays within ±20%`)
  }
  t.not(backoffDelay(2, 'error', OPTS, () => 0.1), backoffDelay(2, 'error', OPTS, () => 0.9),
    'different random values give different delays')
})

t.test('a rejected credential waits the slow end (maxMs) from the first failure', async (t) => {
  t.equal(backoffDelay(1, 'rejected', OPTS, mid), 60_000)
  t.equal(backoffDelay(5, 'rejected', OPTS, mid), 60_000)
  t.equal(backoffDelay(1, 'rejected', OPTS, () => 0), 48_000, 'jitter still applies: -20%')
  t.equal(backoffDelay(1, 'rejected', OPTS, () => 1), 60_000, 'jitter never takes the delay past maxMs')
  t.equal(backoffDelay(9, 'error', OPTS, () => 1), 60_000, 'nor a long run of errors')
  t.equal(backoffDelay(1, 'rejected', { initialMs: 100, maxMs: 1500, jitter: 0 }, mid), 1500)
})
