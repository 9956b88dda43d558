// pino logger with redaction compiled once; tokens appear only as fingerprints.
import { createHash } from 'node:crypto'
import { LogController, type FastifyBaseLogger } from 'fastify'
import { pino, type DestinationStream, type Logger } from 'pino'

/** Paths whose values never reach a log line, whatever object carries them. */
export const REDACT_PATHS = [
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'headers["proxy-authorization"]', '*.headers["proxy-authorization"]',
  'headers["waltid-authorization"]', '*.headers["waltid-authorization"]',
  'password', '*.password', 'clientSecret', '*.clientSecret', 'client_secret', '*.client_secret',
  'secret', '*.secret', 'token', '*.token', 'access_token', '*.access_token',
  'refresh_token', '*.refresh_token', 'privateKey', '*.privateKey',
]

export function createLogger (level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { name: 'tokenproxy' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}

/** First 8 hex of the token's SHA-256: enough to correlate, useless to an attacker. */
export function fingerprint (token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 8)
}

/** Fastify option: no per-request log lines (tokenproxy logs what matters itself, off the hot path). */
export const quietRequests = (): { logController: InstanceType<typeof LogController>, childLoggerFactory: typeof lazyChildLogger } =>
  ({ logController: new LogController({ disableRequestLogging: true }), childLoggerFactory: lazyChildLogger })

type Bindings = Record<string, unknown>
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const

/**
 * fastify's per-request logger (`request.log`, bound to the reqId), made only when a line is really
 * written. fastify's default makes a pino child for every request, and pino runs the redaction over
 * its bindings each time: about 2% of a small GET's CPU for a logger that is almost never used.
 */
class LazyRequestLogger {
  private made: Logger | undefined
  constructor (private readonly parent: Logger, private readonly bindings: Bindings, private readonly opts: object) {}
  private get real (): Logger { return (this.made ??= this.parent.child(this.bindings, this.opts)) }
  get level (): string { return this.made?.level ?? this.parent.level }
  isLevelEnabled (level: string): boolean { return (this.made ?? this.parent).isLevelEnabled(level) }
  child (bindings: Bindings, opts?: object): Logger { return this.real.child(bindings, opts) }
  silent (): void {}
  declare fatal: Logger['fatal']
  declare error: Logger['error']
  declare warn: Logger['warn']
  declare info: Logger['info']
  declare debug: Logger['debug']
  declare trace: Logger['trace']
}
for (const level of LEVELS) {
  Object.defineProperty(LazyRequestLogger.prototype, level, {
    value (this: LazyRequestLogger, ...args: unknown[]): void {
      if (!this.isLevelEnabled(level)) return
      const real = (this as unknown as { real: Logger }).real
      ;(real[level] as (...a: unknown[]) => void)(...args)
    },
  })
}

/** fastify option `childLoggerFactory`: see LazyRequestLogger. */
export function lazyChildLogger (logger: FastifyBaseLogger, bindings: Bindings, opts: object): FastifyBaseLogger {
  return new LazyRequestLogger(logger as Logger, bindings, opts) as unknown as FastifyBaseLogger
}
