// `tokenproxy check`: a one-screen summary of a valid config, without any secret value.
import { publicRedisUrl } from '../config/cache-schema.js'
import type { Config } from '../configuration.js'
import { serviceFor } from '../credentials/registry.js'

export function summarize (config: Config, file: string): string {
  const lines = [`${file}: configuration is valid`]
  const logFormat = config.log.format ?? 'pretty on a terminal, else json'
  lines.push(`  listen ${config.listen.host}:${config.listen.port}   admin ${config.admin.host}:${config.admin.port}   ` +
    `log ${config.log.level}, ${logFormat}, access log ${config.log.requests ? 'on' : 'off'}`)
  lines.push(`  refresh at ${config.refresh.at} ± ${config.refresh.jitter} of the lifetime, ` +
    `minValidity ${config.refresh.minValidity}s, shutdown grace ${config.shutdownGrace}s`)
  lines.push('credentials:')
  for (const c of Object.values(config.credentials)) lines.push(`  ${c.name}: ${serviceFor(c).describe(c)}\n      token URL ${c.tokenUrl}`)
  lines.push('upstreams:')
  for (const u of Object.values(config.upstreams)) {
    const where = [u.prefix === undefined ? undefined : `${u.prefix}/* on listen`,
      u.port === undefined ? undefined : `port ${u.port}`].filter(Boolean).join(' and ')
    lines.push(`  ${u.name}: ${where} -> ${u.target}  (credential ${u.credential}, timeout ${u.timeout}s)`)
  }
  const redis = config.cache?.redis
  if (redis !== undefined) {
    const password = redis.password === undefined ? '' : `, password ${redis.password.describe()}`
    lines.push(`cache: redis ${publicRedisUrl(redis.url)}, keyPrefix "${redis.keyPrefix}", key ${redis.key.describe()}${password}`)
  }
  const unused = Object.keys(config.credentials).filter((n) => !Object.values(config.upstreams).some((u) => u.credential === n))
  if (unused.length > 0) lines.push(`note: credentials not used by any upstream: ${unused.join(', ')}`)
  return lines.join('\n')
}
