// What a new config changes against the running one: credentials and upstreams added, changed, removed; what needs a restart.
import { Secret } from './secrets.js'
import type { Config } from './types.js'

export interface Changes { added: string[], changed: string[], removed: string[], unchanged: string[] }

export interface ConfigDiff {
  credentials: Changes
  upstreams: Changes
  /** Top-level keys that changed but only take effect after a restart (listen, admin, cache). */
  restart: string[]
}

/** Secrets by value (JSON.stringify would call their toJSON, '[secret]', before any replacer sees them). */
function revealed (value: unknown): unknown {
  if (value instanceof Secret) return { secret: value.reveal() }
  if (Array.isArray(value)) return value.map(revealed)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revealed(v)]))
  return value
}

/** A definition as a comparable string: secrets by value (never logged), everything else as configured. */
function definition (value: unknown): string {
  return JSON.stringify(revealed(value))
}

function compare<T> (before: Record<string, T>, after: Record<string, T>): Changes {
  const out: Changes = { added: [], changed: [], removed: [], unchanged: [] }
  for (const [name, next] of Object.entries(after)) {
    const prev = before[name]
    if (prev === undefined) out.added.push(name)
    else if (definition(prev) === definition(next)) out.unchanged.push(name)
    else out.changed.push(name)
  }
  for (const name of Object.keys(before)) if (!(name in after)) out.removed.push(name)
  return out
}

const RESTART_KEYS = ['listen', 'admin', 'cache'] as const

export function diffConfig (before: Config, after: Config): ConfigDiff {
  return {
    credentials: compare(before.credentials, after.credentials),
    upstreams: compare(before.upstreams, after.upstreams),
    restart: RESTART_KEYS.filter((k) => definition(before[k]) !== definition(after[k])),
  }
}

/** True when the diff changes nothing that a reload applies. */
export function isEmpty (d: ConfigDiff): boolean {
  return [d.credentials, d.upstreams].every((c) => c.added.length + c.changed.length + c.removed.length === 0)
}
