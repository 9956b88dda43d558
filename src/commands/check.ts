// `tokenproxy check`: a one-screen summary of a valid config, without any secret value.
import type { Config, CredentialConfig } from '../config/types.js'

function describeCredential (c: CredentialConfig): string {
  const parts = [`${c.type} ${c.grant}`, `client ${c.clientId} (${c.clientAuth}, secret ${c.clientSecret?.describe() ?? 'none'})`]
  if (c.scope !== undefined) parts.push(`scope "${c.scope}"`)
  return `${parts.join(', ')}\n      token URL ${c.tokenUrl}`
}

export function summarize (config: Config, file: string): string {
  const lines = [`${file}: configuration is valid`]
  lines.push(`  listen ${config.listen.host}:${config.listen.port}   admin ${config.admin.host}:${config.admin.port}   log ${config.log.level}`)
  lines.push(`  refresh at ${config.refresh.at} ± ${config.refresh.jitter} of the lifetime, minValidity ${config.refresh.minValidity}s, shutdown grace ${config.shutdownGrace}s`)
  lines.push('credentials:')
  for (const c of Object.values(config.credentials)) lines.push(`  ${c.name}: ${describeCredential(c)}`)
  lines.push('upstreams:')
  for (const u of Object.values(config.upstreams)) {
    const where = [u.prefix === undefined ? undefined : `${u.prefix}/* on listen`, u.port === undefined ? undefined : `port ${u.port}`].filter(Boolean).join(' and ')
    lines.push(`  ${u.name}: ${where} -> ${u.target}  (credential ${u.credential}, timeout ${u.timeout}s)`)
  }
  const unused = Object.keys(config.credentials).filter((n) => !Object.values(config.upstreams).some((u) => u.credential === n))
  if (unused.length > 0) lines.push(`note: credentials not used by any upstream: ${unused.join(', ')}`)
  return lines.join('\n')
}
