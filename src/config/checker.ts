// Small typed readers for raw config values that collect every problem instead of throwing.
import { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { resolveSecret, type Secret } from './secrets.js'

type Raw = Record<string, unknown>

const at = (path: string, key: string): string => (path ? `${path}.${key}` : key)

/**
 * True for hosts that never leave the machine: `localhost` and loopback IP literals only. Other
 * names, `*.localhost` included, go through the system resolver, which may ask network DNS.
 */
export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h === '::1') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  // An IPv4-mapped loopback address, as the URL parser writes it (::ffff:7f00:1 for ::ffff:127.0.0.1).
  return isIP(h) === 6 && /^::ffff:(7f[0-9a-f]{2}:[0-9a-f]{1,4}|127\.)/.test(h)
}

/** Where ${VAR} references went (see load.ts): values from the environment, and paths left unset. */
export interface Substitutions {
  /** Path -> the variables whose values it holds. */
  fromEnv: Map<string, string[]>
  /** Paths with an unset variable: already reported. */
  unset: Set<string>
}

export class Checker {
  readonly problems: string[] = []
  readonly subs: Substitutions
  constructor (readonly env: NodeJS.ProcessEnv, subs?: Substitutions) {
    this.subs = subs ?? { fromEnv: new Map(), unset: new Set() }
  }

  /** One problem per cause: a path whose ${VAR} is unset has been reported as that already. */
  add (path: string, message: string): void {
    if (this.subs.unset.has(path)) return
    this.problems.push(`${path || '(root)'}: ${message}`)
  }

  /** True when the value at `path` came from an unset ${VAR} (so what follows from it is no news). */
  unset (path: string): boolean { return this.subs.unset.has(path) }

  /** Reads a mapping and reports keys outside `allowed`. */
  object (raw: unknown, path: string, allowed: readonly string[]): Raw | undefined {
    if (raw === undefined || raw === null) return {}
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      this.add(path, 'must be a mapping')
      return undefined
    }
    for (const key of Object.keys(raw)) {
      if (!allowed.includes(key)) this.add(at(path, key), `unknown key (allowed: ${allowed.join(', ')})`)
    }
    return raw as Raw
  }

  string (obj: Raw, key: string, path: string,
    opts: { required?: boolean, default?: string, oneOf?: readonly string[] } = {}): string | undefined {
    const v = obj[key]
    if (v === undefined || v === null || v === '') {
      if (opts.required) this.add(at(path, key), 'is required')
      return opts.default
    }
    if (typeof v !== 'string' && typeof v !== 'number') {
      this.add(at(path, key), 'must be a string')
      return opts.default
    }
    const s = String(v)
    if (opts.oneOf && !opts.oneOf.includes(s)) {
      this.add(at(path, key), `${JSON.stringify(s)} is not one of ${opts.oneOf.join(', ')}`)
      return opts.default
    }
    return s
  }

  number (obj: Raw, key: string, path: string,
    opts: { default?: number, min?: number, max?: number, integer?: boolean, above?: number, below?: number }): number | undefined {
    const v = obj[key]
    if (v === undefined || v === null || v === '') return opts.default
    // Numbers may arrive as strings through ${VAR} substitution.
    const n = typeof v === 'number' ? v : (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN)
    const p = at(path, key)
    if (!Number.isFinite(n)) this.add(p, `must be a number (got ${JSON.stringify(v)})`)
    else if (opts.integer && !Number.isInteger(n)) this.add(p, `must be a whole number (got ${n})`)
    else if (opts.min !== undefined && n < opts.min) this.add(p, `must be at least ${opts.min} (got ${n})`)
    else if (opts.max !== undefined && n > opts.max) this.add(p, `must be at most ${opts.max} (got ${n})`)
    else if (opts.above !== undefined && n <= opts.above) this.add(p, `must be greater than ${opts.above} (got ${n})`)
    else if (opts.below !== undefined && n >= opts.below) this.add(p, `must be less than ${opts.below} (got ${n})`)
    else return n
    return opts.default
  }

  bool (obj: Raw, key: string, path: string, fallback: boolean): boolean {
    const v = obj[key]
    if (v === undefined || v === null || v === '') return fallback
    if (v === true || v === 'true') return true
    if (v === false || v === 'false') return false
    this.add(at(path, key), `must be true or false (got ${JSON.stringify(v)})`)
    return fallback
  }

  /** A mapping of names to string values (extra form parameters, say); `reserved` names are refused. */
  stringMap (obj: Raw, key: string, path: string, reserved: readonly string[] = []): Record<string, string> | undefined {
    const v = obj[key]
    if (v === undefined || v === null) return undefined
    const p = at(path, key)
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.add(p, 'must be a mapping of names to strings, e.g. { audience: registry-api }')
      return undefined
    }
    const out: Record<string, string> = {}
    let ok = true
    for (const [name, value] of Object.entries(v as Raw)) {
      if (reserved.includes(name)) {
        this.add(`${p}.${name}`, 'is set by tokenproxy itself and cannot be overridden here')
        ok = false
      } else if (typeof value !== 'string') {
        const quote = typeof value === 'number' || typeof value === 'boolean' ? `; quote it: "${String(value)}"` : ''
        this.add(`${p}.${name}`, `must be a string (got ${JSON.stringify(value)}${quote})`)
        ok = false
      } else {
        out[name] = value
      }
    }
    return ok ? out : undefined
  }

  port (obj: Raw, key: string, path: string, fallback?: number): number | undefined {
    return this.number(obj, key, path, { default: fallback, min: 0, max: 65535, integer: true })
  }

  /** A URL with one of `protocols` (`kind` names them in the problem: "an http:// or https://"); undefined after a problem. */
  parsedUrl (value: string, path: string, protocols: readonly string[], kind: string): URL | undefined {
    let u: URL
    try {
      u = new URL(value)
    } catch {
      this.add(path, `${JSON.stringify(value)} is not a URL`)
      return undefined
    }
    if (!protocols.includes(u.protocol)) {
      this.add(path, `must be ${kind} URL (got ${u.protocol})`)
      return undefined
    }
    return u
  }

  /** An http(s) URL; plain http only to loopback unless `insecureHttp`. */
  url (value: string | undefined, path: string, insecureHttp: boolean): string | undefined {
    if (value === undefined) return undefined
    const u = this.parsedUrl(value, path, ['http:', 'https:'], 'an http:// or https://')
    if (u === undefined) return undefined
    if (u.username || u.password) this.add(path, 'must not carry credentials in the URL')
    if (u.search || u.hash) this.add(path, 'must not have a query or fragment')
    if (u.protocol === 'http:' && !insecureHttp && !isLoopbackHost(u.hostname)) {
      this.add(path, `plain http:// to ${u.hostname} would send secrets in clear; use https:// or set insecureHttp: true`)
    }
    return value.replace(/\/+$/, '')
  }

  secret (obj: Raw, key: string, path: string, required: boolean): Secret | undefined {
    const v = obj[key]
    if (v === undefined || v === null || v === '') {
      if (required) this.add(at(path, key), 'is required')
      return undefined
    }
    const vars = typeof v === 'string' ? this.subs.fromEnv.get(at(path, key)) : undefined
    const s = resolveSecret(v, this.env, vars)
    if (typeof s === 'string') {
      this.add(at(path, key), s)
      return undefined
    }
    return s
  }

  /**
   * A private CA bundle (`{ file: PATH }` or `{ env: NAME }`, read by the secret reader though it
   * is not secret): PEM text with at least one certificate, every one of them parseable.
   */
  ca (obj: Raw, key: string, path: string): string | undefined {
    const v = obj[key]
    if (v === undefined || v === null || v === '') return undefined
    const p = at(path, key)
    if (typeof v === 'string') {
      this.add(p, 'must be { file: PATH } or { env: NAME } holding PEM certificates')
      return undefined
    }
    const s = resolveSecret(v, this.env)
    if (typeof s === 'string') {
      this.add(p, s)
      return undefined
    }
    const where = `the CA ${s.describe()}`
    const pem = s.reveal()
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []
    if (blocks.length === 0) {
      this.add(p, `${where} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
      return undefined
    }
    for (const [i, block] of blocks.entries()) {
      try {
        // eslint-disable-next-line no-new -- constructed only to check that the block parses
        new X509Certificate(block)
      } catch {
        this.add(p, `${where}: certificate ${i + 1} of ${blocks.length} is not a valid X.509 certificate`)
        return undefined
      }
    }
    return pem
  }
}
