// pino logger with redaction compiled once; tokens appear only as fingerprints (tokens/fingerprint.ts).
import { LogController, type FastifyBaseLogger } from 'fastify'
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import type { LogConfig } from '../config/types.js'

/** Paths whose values never reach a log line, whatever object carries them. */
export const REDACT_PATHS = [
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'headers["proxy-authorization"]', '*.headers["proxy-authorization"]',
  'headers["waltid-authorization"]', '*.headers["waltid-authorization"]',
  'password', '*.password', 'clientSecret', '*.clientSecret', 'client_secret', '*.client_secret',
  'secret', '*.secret', 'token', '*.token', 'access_token', '*.access_token',
  'refresh_token', '*.refresh_token', 'privateKey', '*.privateKey',
]

const commonOptions = (level: string): LoggerOptions => ({
  level,
  base: { name: 'tokenproxy' },
  redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  timestamp: pino.stdTimeFunctions.isoTime,
})

/**
 * JSON lines; `level` is the label ("info"), not pino's number (30): what log collectors (Loki,
 * Elasticsearch, CloudWatch, Datadog, GCP) filter and colour by without a mapping.
 */
export function createLogger (level: string, destination?: DestinationStream): Logger {
  const options = { ...commonOptions(level), formatters: { level: (label: string) => ({ level: label }) } }
  return destination === undefined ? pino(options) : pino(options, destination)
}

/** `log.format`, or the default: pretty in a terminal, JSON anywhere else. */
export function logFormat (format: LogConfig['format'], isTTY: boolean | undefined): 'json' | 'pretty' {
  return format ?? (isTTY === true ? 'pretty' : 'json')
}

/**
 * The process's logger on stdout, written synchronously so its lines keep their order with the
 * CLI's own output and none is lost at exit. Pretty output loads pino-pretty, only then.
 */
export async function openLogger (log: Pick<LogConfig, 'level' | 'format'>, io: { isTTY?: boolean, env: NodeJS.ProcessEnv } = {
  isTTY: process.stdout.isTTY,
  env: process.env,
}): Promise<Logger> {
  const out = pino.destination({ dest: 1, sync: true })
  if (logFormat(log.format, io.isTTY) === 'json') return createLogger(log.level, out)
  const pretty = await import('pino-pretty')
  const prettify = (pretty.prettyFactory ?? pretty.default.prettyFactory)({
    colorize: io.isTTY === true && (io.env.NO_COLOR ?? '') === '',
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    singleLine: true,
  })
  return pino(commonOptions(log.level), { write: (line: string) => { out.write(prettify(line)) } })
}

/** Fastify option: no per-request log lines (tokenproxy logs what matters itself, off the hot path). */
export const quietRequests = (): { logController: InstanceType<typeof LogController>, childLoggerFactory: typeof lazyChildLogger } =>
  ({ logController: new LogController({ disableRequestLogging: true }), childLoggerFactory: lazyChildLogger })

type Bindings = Record<string, unknown>
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const

/**
 * fastify's per-request logger (`request.log`, bound to the reqId), made only when a line is really
 * written. fastify's default makes a pino child for every request, and pino runs the redaction over
 * its bindings each time, for a logger that is almost never used.
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
