// pino logger with redaction compiled once; tokens appear only as fingerprints.
import { createHash } from 'node:crypto'
import { LogController } from 'fastify'
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
export const quietRequests = (): { logController: InstanceType<typeof LogController> } =>
  ({ logController: new LogController({ disableRequestLogging: true }) })
