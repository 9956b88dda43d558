// The admin listener: /healthz (liveness), /readyz (every used credential holds a token), /metrics.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { TokenManager } from '../tokens/token-manager.js'
import { quietRequests } from './logger.js'
import type { Metrics } from './metrics.js'

export function buildAdmin (deps: {
  tokens: TokenManager
  metrics: Metrics
  usedCredentials: () => string[]
  logger: Logger
}): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, ...quietRequests(), forceCloseConnections: true })
  app.get('/healthz', async (_req, reply) => {
    reply.header('cache-control', 'no-store')
    return { status: 'ok' }
  })
  app.get('/readyz', async (_req, reply) => {
    const ready = deps.tokens.ready(deps.usedCredentials())
    reply.code(ready ? 200 : 503).header('cache-control', 'no-store')
    return { status: ready ? 'ready' : 'not_ready', credentials: deps.tokens.status() }
  })
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType)
    return deps.metrics.registry.metrics()
  })
  return app
}
