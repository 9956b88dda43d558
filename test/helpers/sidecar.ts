// Starts a real sidecar on loopback port 0 with logs captured in memory; closes it with the test.
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { Test } from 'tap'
import { stringify } from 'yaml'
import { parseConfig } from '../../src/config/load.js'
import { REDACT_PATHS } from '../../src/observability/logger.js'
import { buildServer, type BuildOptions, type Sidecar } from '../../src/server.js'

/** Every log line the sidecar wrote, as text and as parsed objects. */
export class LogCapture extends Writable {
  text = ''
  override _write (chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString()
    cb()
  }

  get lines (): Array<Record<string, unknown>> {
    return this.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  }

  find (msg: string | RegExp): Array<Record<string, unknown>> {
    return this.lines.filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg))))
  }
}

export interface Running {
  sidecar: Sidecar
  /** The shared listener's base URL (no trailing slash). */
  url: string
  admin: string
  addresses: Record<string, string>
  logs: LogCapture
}

/** Fast backoff for tests: 100 ms doubling to 1 s. */
export const FAST_BACKOFF = { initialMs: 100, maxMs: 1000, jitter: 0 }

export async function startSidecar (t: Test, doc: Record<string, unknown>, opts: BuildOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<Running> {
  const config = parseConfig(stringify({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    log: { level: 'debug' },
    ...doc,
  }), opts.env ?? {})
  const logs = new LogCapture()
  const logger = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, logs)
  const sidecar = await buildServer(config, { backoff: FAST_BACKOFF, ...opts, logger })
  t.teardown(() => sidecar.close(1000))
  const addresses = await sidecar.start()
  return { sidecar, url: addresses.listen ?? '', admin: addresses.admin!, addresses, logs }
}

/** Resolves when `check` is true, polling every 20 ms; rejects after `ms`. */
export async function until (check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
