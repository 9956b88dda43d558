// Starts a real sidecar on loopback port 0 with logs captured in memory, scanned for leaks and closed with the test.
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { Test } from 'tap'
import { stringify } from 'yaml'
import { parseConfig } from '../../src/configuration.js'
import { REDACT_PATHS } from '../../src/observability/logger.js'
import { buildServer, type BuildOptions, type Sidecar } from '../../src/server.js'
import { captureErrorBodies, type ErrorBody } from './leak-capture.js'
import { registerConfigSecrets } from './leak-registry.js'
import { guardAgainstLeaks } from './leak-scan.js'

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
  /** Every error response (status >= 400) its listeners sent, head and body. */
  errorBodies: ErrorBody[]
}

/** Fast backoff for tests: 100 ms doubling to 1 s. */
export const FAST_BACKOFF = { initialMs: 100, maxMs: 1000, jitter: 0 }

/** A test config as YAML: loopback port 0 for every listener, debug logs, then `doc`. */
export function sidecarYaml (doc: Record<string, unknown>): string {
  return stringify({ listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, log: { level: 'debug' }, ...doc })
}

export async function startSidecar (t: Test, doc: Record<string, unknown>,
  opts: BuildOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<Running> {
  const config = parseConfig(sidecarYaml(doc), opts.env ?? {})
  const logs = new LogCapture()
  const logger = pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, logs)
  const sidecar = await buildServer(config, { backoff: FAST_BACKOFF, ...opts, logger })
  // Every test's sidecar is scanned for the tokens the peers issued and the secrets in its config.
  registerConfigSecrets(config)
  const running: Running = {
    sidecar,
    url: '',
    admin: '',
    addresses: sidecar.addresses,
    logs,
    errorBodies: captureErrorBodies(sidecar.listeners),
  }
  const afterClose = guardAgainstLeaks(t, running)
  t.teardown(async () => {
    await sidecar.close(1000)
    afterClose()
  })
  const addresses = await sidecar.start()
  running.url = addresses.listen ?? ''
  running.admin = addresses.admin!
  return running
}

/** Resolves when `check` is true, polling every 20 ms; rejects after `ms`. */
export async function until (check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
