// Validates a parsed config document: every problem at once, each with its path; then freezes it.
import { readCache } from './cache-schema.js'
import { Checker, type Substitutions } from './checker.js'
import { checkCredentialLinks, readCredential, type CredentialSchema } from './credential-schema.js'
import type { Config, CredentialBase, Endpoint, ForwardedMode, ListenConfig, LogConfig, UpstreamConfig } from './types.js'

type Raw = Record<string, unknown>

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const ENDPOINT_KEYS = ['host', 'port'] as const

function endpoint (c: Checker, raw: unknown, path: string, port: number,
  allowed: readonly string[] = ENDPOINT_KEYS): Endpoint & { obj: Raw } {
  const obj = c.object(raw, path, allowed) ?? {}
  return { host: c.string(obj, 'host', path, { default: '127.0.0.1' })!, port: c.port(obj, 'port', path, port)!, obj }
}

/** MiB, the unit `listen.replayBudget` is given in. */
const MIB = 1024 * 1024

/** `listen`: the shared listener's address, and the limits every proxy listener applies to its clients. */
function listenConfig (c: Checker, raw: unknown): ListenConfig {
  const { host, port, obj } = endpoint(c, raw, 'listen', 8080,
    [...ENDPOINT_KEYS, 'headersTimeout', 'bodyTimeout', 'idleTimeout', 'replayBudget'])
  const seconds = (key: string, fallback: number): number => c.number(obj, key, 'listen', { default: fallback, above: 0, max: 3600 })!
  return {
    host,
    port,
    headersTimeout: seconds('headersTimeout', 10),
    bodyTimeout: seconds('bodyTimeout', 30),
    idleTimeout: seconds('idleTimeout', 5),
    replayBudget: Math.round(c.number(obj, 'replayBudget', 'listen', { default: 32, min: 0, max: 65536 })! * MIB),
  }
}

function named (c: Checker, raw: unknown, path: string): Array<[string, unknown]> {
  if (raw === undefined || raw === null) {
    c.add(path, 'is required and must define at least one entry')
    return []
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    c.add(path, 'must be a mapping of names to entries')
    return []
  }
  const entries = Object.entries(raw)
  if (entries.length === 0) c.add(path, 'must define at least one entry')
  for (const [name] of entries) {
    if (!NAME.test(name)) c.add(`${path}.${name}`, 'name must be letters, digits, _ . - (at most 63)')
  }
  return entries
}

function prefixOf (c: Checker, obj: Raw, path: string): string | undefined {
  const prefix = c.string(obj, 'prefix', path)
  if (prefix === undefined) return undefined
  const clean = prefix.replace(/\/+$/, '')
  if (!clean.startsWith('/') || clean === '' || /\/\/|\/\.\.?(\/|$)|%|\\|\?|#|\s/.test(clean)) {
    c.add(`${path}.prefix`, `${JSON.stringify(prefix)} must be a plain absolute path such as /registry`)
    return undefined
  }
  return clean
}

/** Reads one upstream; prefix and port come back even when the rest is invalid, for the duplicate checks. */
function upstream (c: Checker, raw: unknown, path: string, name: string, credentials: Record<string, CredentialBase>,
  credentialNames: string[]): { u?: UpstreamConfig, prefix?: string, port?: number } {
  const obj = c.object(raw, path,
    ['target', 'credential', 'prefix', 'port', 'timeout', 'connections', 'forwarded', 'methodOverride', 'insecureHttp', 'ca'])
  if (obj === undefined) return {}
  const insecureHttp = c.bool(obj, 'insecureHttp', path, false)
  const target = c.url(c.string(obj, 'target', path, { required: true }), `${path}.target`, insecureHttp)
  const credential = c.string(obj, 'credential', path, { required: true })
  if (credential !== undefined && !credentialNames.includes(credential)) {
    c.add(`${path}.credential`,
      `${JSON.stringify(credential)} is not a defined credential (defined: ${credentialNames.join(', ') || 'none'})`)
  }
  const prefix = prefixOf(c, obj, path)
  const port = c.port(obj, 'port', path)
  if (obj.prefix === undefined && obj.port === undefined) c.add(path, 'needs a prefix (on listen) or a port (dedicated listener), or both')
  const timeout = c.number(obj, 'timeout', path, { default: 30, above: 0, max: 3600 })!
  const connections = c.number(obj, 'connections', path, { default: 128, min: 1, max: 4096, integer: true })!
  const forwarded = c.string(obj, 'forwarded', path, { default: 'strip', oneOf: ['strip', 'set', 'keep'] }) as ForwardedMode
  const methodOverride = c.bool(obj, 'methodOverride', path, false)
  const ca = c.ca(obj, 'ca', path)
  if (target === undefined || credential === undefined || credentials[credential] === undefined) return { prefix, port }
  return {
    u: {
      name,
      target,
      credential,
      prefix,
      port,
      timeout,
      connections,
      forwarded,
      methodOverride,
      insecureHttp,
      ...(ca === undefined ? {} : { ca }),
    },
    prefix,
    port,
  }
}

interface ValidateOptions<C extends CredentialBase> {
  /** The credential types there are: one schema per identity service. */
  services: readonly CredentialSchema<C>[]
  /** Where ${VAR} references went (load.ts), so that problems name their variables. */
  subs?: Substitutions
}

export function validateConfig<C extends CredentialBase> (doc: unknown, env: NodeJS.ProcessEnv,
  opts: ValidateOptions<C>): { config?: Config<C>, problems: string[] } {
  const c = new Checker(env, opts.subs)
  const root = c.object(doc, '', ['listen', 'admin', 'log', 'refresh', 'shutdown', 'credentials', 'upstreams', 'cache']) ?? {}
  const listen = listenConfig(c, root.listen)
  const { host: adminHost, port: adminPort } = endpoint(c, root.admin, 'admin', 9901)
  const admin = { host: adminHost, port: adminPort }
  const log = c.object(root.log, 'log', ['level', 'requests', 'format']) ?? {}
  const level = c.string(log, 'level', 'log', { default: 'info', oneOf: LOG_LEVELS })!
  const requests = c.bool(log, 'requests', 'log', false)
  const format = c.string(log, 'format', 'log', { oneOf: ['json', 'pretty'] }) as LogConfig['format']
  const r = c.object(root.refresh, 'refresh', ['at', 'jitter', 'minValidity']) ?? {}
  const refreshAt = c.number(r, 'at', 'refresh', { default: 0.8, above: 0, below: 1 })!
  const jitter = c.number(r, 'jitter', 'refresh', { default: 0.05, min: 0, below: 0.5 })!
  if (refreshAt - jitter <= 0 || refreshAt + jitter >= 1) {
    c.add('refresh', `at ± jitter must stay inside (0, 1) (got ${refreshAt} ± ${jitter})`)
  }
  const minValidity = c.number(r, 'minValidity', 'refresh', { default: 5, min: 0 })!
  const shutdown = c.object(root.shutdown, 'shutdown', ['grace']) ?? {}
  const shutdownGrace = c.number(shutdown, 'grace', 'shutdown', { default: 10, min: 0, max: 3600 })!

  const credentialEntries = named(c, root.credentials, 'credentials')
  const credentialNames = credentialEntries.map(([n]) => n)
  const credentials: Record<string, C> = {}
  for (const [name, raw] of credentialEntries) {
    const cred = readCredential(c, raw, `credentials.${name}`, name, opts.services)
    if (cred) credentials[name] = cred
  }
  checkCredentialLinks(c, credentials, credentialNames, opts.services)

  const upstreams: Record<string, UpstreamConfig> = {}
  const prefixes = new Map<string, string>()
  const ports = new Map<number, string>([[admin.port, 'admin.port']])
  if (listen.port !== 0 && listen.port === admin.port) c.add('admin.port', `${admin.port} is also listen.port`)
  ports.set(listen.port, 'listen.port')
  for (const [name, raw] of named(c, root.upstreams, 'upstreams')) {
    const path = `upstreams.${name}`
    const { u, prefix, port } = upstream(c, raw, path, name, credentials, credentialNames)
    if (prefix !== undefined) {
      // Exact: routing is case-sensitive (as paths are, RFC 3986 §6.2.2.1), so /API and /api are two routes.
      const other = prefixes.get(prefix)
      if (other !== undefined) c.add(`${path}.prefix`, `${prefix} is already used by ${other}`)
      prefixes.set(prefix, path)
    }
    if (port !== undefined && port !== 0) {
      const other = ports.get(port)
      if (other !== undefined) c.add(`${path}.port`, `${port} is already used by ${other}`)
      ports.set(port, `${path}.port`)
    }
    if (u !== undefined) upstreams[name] = u
  }
  const cache = readCache(c, root.cache)
  if (c.problems.length > 0) return { problems: c.problems }
  const config: Config<C> = {
    listen,
    admin,
    log: { level, requests, ...(format === undefined ? {} : { format }) },
    refresh: { at: refreshAt, jitter, minValidity },
    shutdownGrace,
    credentials,
    upstreams,
    ...(cache === undefined ? {} : { cache }),
  }
  return { config: deepFreeze(config), problems: [] }
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
