// Secret values: a string, `{ file: PATH }` (trailing newline trimmed) or `{ env: NAME }`.
import { readFileSync } from 'node:fs'

export type SecretSource =
  | { kind: 'value' }
  | { kind: 'file', path: string }
  | { kind: 'env', name: string }
  | { kind: 'var', names: string[] }

/** Holds a secret without letting it reach logs or JSON by accident. */
export class Secret {
  readonly source: SecretSource
  #value: string

  constructor (value: string, source: SecretSource = { kind: 'value' }) {
    this.#value = value
    this.source = source
  }

  reveal (): string { return this.#value }
  /** A rotated value (the file behind a `{ file }` secret changed); see tokens/secret-watch.ts. */
  update (value: string): void { this.#value = value }
  toString (): string { return '[secret]' }
  toJSON (): string { return '[secret]' }
  [Symbol.for('nodejs.util.inspect.custom')] (): string { return '[secret]' }

  describe (): string {
    switch (this.source.kind) {
      case 'file': return `from file ${this.source.path}`
      case 'env': return `from env ${this.source.name}`
      case 'var': return `from environment ${this.source.names.map((n) => `\${${n}}`).join(', ')}`
      default: return 'inline'
    }
  }
}

/** A secret file's value as tokenproxy uses it: one trailing newline trimmed. */
export function secretFileValue (text: string): string {
  return text.replace(/\r?\n$/, '')
}

/**
 * Resolves a secret field; returns a problem message instead when it cannot.
 * `raw` is the parsed (already ${VAR}-substituted) config value.
 */
export function resolveSecret (raw: unknown, env: NodeJS.ProcessEnv, vars?: string[]): Secret | string {
  // `vars`: the ${VAR}s whose values the string holds, so `check` says "from environment", not "inline".
  if (typeof raw === 'string') return new Secret(raw, vars === undefined ? { kind: 'value' } : { kind: 'var', names: vars })
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return 'must be a string, { file: PATH } or { env: NAME }'
  }
  const keys = Object.keys(raw)
  const obj = raw as Record<string, unknown>
  if (keys.length !== 1 || (keys[0] !== 'file' && keys[0] !== 'env')) {
    return `must have exactly one of "file" or "env" (got ${keys.map((k) => JSON.stringify(k)).join(', ') || 'nothing'})`
  }
  if (keys[0] === 'file') {
    if (typeof obj.file !== 'string' || obj.file === '') return 'file: must be a non-empty path'
    try {
      const value = secretFileValue(readFileSync(obj.file, 'utf8'))
      if (value === '') return `file: ${obj.file} is empty`
      return new Secret(value, { kind: 'file', path: obj.file })
    } catch (err) {
      return `file: cannot read ${obj.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`
    }
  }
  if (typeof obj.env !== 'string' || obj.env === '') return 'env: must be a variable name'
  const value = env[obj.env]
  if (value === undefined) return `env: variable ${obj.env} is not set`
  if (value === '') return `env: variable ${obj.env} is empty`
  return new Secret(value, { kind: 'env', name: obj.env })
}
