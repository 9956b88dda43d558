// tokenproxy's Prometheus metrics on a non-global registry, plus prom-client's default metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  registry: Registry
  tokenRequests: Counter<'credential' | 'outcome'>
  tokenDuration: Histogram<'credential'>
  tokenExpiry: Gauge<'credential'>
  requests: Counter<'upstream' | 'method' | 'code'>
  requestDuration: Histogram<'upstream'>
  authRetries: Counter<'upstream'>
  configReloads: Counter<'outcome'>
  cacheOperations: Counter<'operation' | 'outcome'>
}

/** Methods outside this set are counted as OTHER, so a client cannot invent label values. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
export const methodLabel = (method: string): string => (METHODS.has(method) ? method : 'OTHER')

/** `cache`: a shared cache is configured, so its operations counter is exposed too. */
export function createMetrics (opts: { cache?: boolean } = {}): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const metrics: Metrics = {
    registry,
    tokenRequests: new Counter({
      name: 'tokenproxy_token_requests_total',
      help: 'Token requests to identity services, by outcome',
      labelNames: ['credential', 'outcome'],
      registers,
    }),
    tokenDuration: new Histogram({
      name: 'tokenproxy_token_request_duration_seconds',
      help: 'Duration of token requests to identity services',
      labelNames: ['credential'],
      registers,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
    tokenExpiry: new Gauge({
      name: 'tokenproxy_token_expiry_timestamp_seconds',
      help: 'Unix time at which the current token of a credential expires',
      labelNames: ['credential'],
      registers,
    }),
    requests: new Counter({
      name: 'tokenproxy_requests_total',
      help: 'Proxied requests, by upstream, method and status code',
      labelNames: ['upstream', 'method', 'code'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'tokenproxy_request_duration_seconds',
      help: 'Time from request to response headers, by upstream',
      labelNames: ['upstream'],
      registers,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    authRetries: new Counter({
      name: 'tokenproxy_upstream_auth_retries_total',
      help: 'Requests replayed with a fresh token after an upstream 401',
      labelNames: ['upstream'],
      registers,
    }),
    configReloads: new Counter({
      name: 'tokenproxy_config_reloads_total',
      help: 'Config reloads (SIGHUP or a changed file), by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    cacheOperations: new Counter({
      name: 'tokenproxy_cache_operations_total',
      help: 'Shared token cache (Redis) operations, by outcome',
      labelNames: ['operation', 'outcome'],
      registers: opts.cache === true ? registers : [],
    }),
  }
  // Both outcomes exist from the start, so an alert on `invalid` sees 0 rather than nothing.
  for (const outcome of ['applied', 'invalid']) metrics.configReloads.inc({ outcome }, 0)
  return metrics
}
