// A sliding window of attempts: at most `max` in any `windowMs` (wallet logins, 401-triggered token refetches).

export interface WindowLimit { max: number, windowMs: number }

export class AttemptWindow {
  readonly #times: number[] = []

  constructor (readonly limit: WindowLimit, private readonly now: () => number = Date.now) {}

  /** Attempts made within the window that ends now. */
  count (): number {
    const since = this.now() - this.limit.windowMs
    while (this.#times.length > 0 && this.#times[0]! <= since) this.#times.shift()
    return this.#times.length
  }

  /** Records an attempt now and returns true, or returns false (recording nothing) when the window is full. */
  take (): boolean {
    if (this.count() >= this.limit.max) return false
    this.#times.push(this.now())
    return true
  }
}
