// `tokenproxy check`: a one-screen summary of a valid config, without any secret value.
import { publicRedisUrl } from '../config/cache-schema.js'
import type { Config, CredentialConfig } from '../config/types.js'

function describeCredential (c: CredentialConfig): string {
  const parts: string[] = []
  switch (c.type) {
    case 'keycloak':
      parts.push(`${c.type} ${c.grant}`, `client ${c.clientId} (${c.clientAuth}, ${c.clientAuth === 'private_key_jwt' ? `key ${c.privateKey?.describe()}` : `secret ${c.clientSecret?.describe() ?? 'none'}`})`)
      if (c.username !== undefined) parts.push(`user ${c.username} (password ${c.password?.describe()})`)
      if (c.scope !== undefined) parts.push(`scope "${c.scope}"`)
      if (c.params !== undefined) parts.push(`params ${Object.entries(c.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`)
      break
    case 'regards':
      parts.push(`${c.type} password grant (${c.format} body)`, `tenant ${c.tenant}`, `client ${c.client.id} (secret ${c.client.secret.describe()})`, `user ${c.username} (password ${c.password.describe()})`)
      break
    case 'waltid-wallet':
      parts.push(`${c.type} keycloak login`, c.keycloak === undefined ? `user ${c.username} (password ${c.password?.describe()})` : `with the token of credential ${c.keycloak}`)
      break
  }
  return `${parts.join(', ')}\n      token URL ${c.tokenUrl}`
}

export function summarize (config: Config, file: string): string {
  const lines = [`${file}: configuration is valid`]
  lines.push(`  listen ${config.listen.host}:${config.listen.port}   admin ${config.admin.host}:${config.admin.port}   log ${config.log.level}, ${config.log.format ?? 'pretty on a terminal, else json'}, access log ${config.log.requests ? 'on' : 'off'}`)
  lines.push(`  refresh at ${config.refresh.at} ± ${config.refresh.jitter} of the lifetime, minValidity ${config.refresh.minValidity}s, shutdown grace ${config.shutdownGrace}s`)
  lines.push('credentials:')
  for (const c of Object.values(config.credentials)) lines.push(`  ${c.name}: ${describeCredential(c)}`)
  lines.push('upstreams:')
  for (const u of Object.values(config.upstreams)) {
    const where = [u.prefix === undefined ? undefined : `${u.prefix}/* on listen`, u.port === undefined ? undefined : `port ${u.port}`].filter(Boolean).join(' and ')
    lines.push(`  ${u.name}: ${where} -> ${u.target}  (credential ${u.credential}, timeout ${u.timeout}s)`)
  }
  const redis = config.cache?.redis
  if (redis !== undefined) lines.push(`cache: redis ${publicRedisUrl(redis.url)}, keyPrefix "${redis.keyPrefix}", key ${redis.key.describe()}${redis.password === undefined ? '' : `, password ${redis.password.describe()}`}`)
  const unused = Object.keys(config.credentials).filter((n) => !Object.values(config.upstreams).some((u) => u.credential === n))
  if (unused.length > 0) lines.push(`note: credentials not used by any upstream: ${unused.join(', ')}`)
  return lines.join('\n')
}
