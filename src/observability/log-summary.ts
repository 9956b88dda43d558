// Summarised warnings: the first of a kind is logged at once, the rest of each interval as one line with a count.
import type { Logger } from 'pino'

interface Pending { count: number, timer: NodeJS.Timeout, fields: Record<string, unknown>, message: string }

export class LogSummary {
  readonly #pending = new Map<string, Pending>()

  constructor (private readonly logger: Logger, private readonly intervalMs = 10_000) {}

  /**
   * A warning about `key` (a credential, say). Logged now if it is the first since the last
   * interval ended quietly; otherwise counted, and the count logged when the interval ends.
   */
  warn (key: string, fields: Record<string, unknown>, message: string): void {
    const p = this.#pending.get(key)
    if (p !== undefined) {
      p.count += 1
      p.fields = fields
      p.message = message
      return
    }
    this.logger.warn(fields, message)
    this.#start(key, fields, message)
  }

  #start (key: string, fields: Record<string, unknown>, message: string): void {
    const timer = setTimeout(() => { this.#flush(key) }, this.intervalMs)
    timer.unref()
    this.#pending.set(key, { count: 0, timer, fields, message })
  }

  #flush (key: string, final = false): void {
    const p = this.#pending.get(key)!
    this.#pending.delete(key)
    clearTimeout(p.timer)
    if (p.count === 0) return
    const intervalS = this.intervalMs / 1000
    this.logger.warn({ ...p.fields, count: p.count, intervalS },
      `${p.count} more like this ${final ? 'before stopping' : `in the last ${intervalS}s`}; the last: ${p.message}`)
    // Still failing: keep summarising until an interval passes without one.
    if (!final) this.#start(key, p.fields, p.message)
  }

  /** Logs what is still counted and stops the timers. */
  close (): void {
    for (const key of [...this.#pending.keys()]) this.#flush(key, true)
  }
}
