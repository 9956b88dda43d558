// `credentials.NAME` entries: the keys every type takes, then the schema of the entry's `type`, which the caller hands in.
import type { Checker } from './checker.js'
import type { CredentialBase } from './types.js'

export type Raw = Record<string, unknown>

/** How one credential type is read; the identity services (credentials/) each have one. */
export interface CredentialSchema<C extends CredentialBase = CredentialBase> {
  /** The entry's `type:`. */
  readonly type: C['type']
  /** Its keys besides those every type takes (type, timeout, insecureHttp, ca), in the order a problem lists them. */
  readonly keys: readonly string[]
  /** Reads the entry (already checked for unknown keys), reporting every problem under `path`; undefined when invalid. */
  read (c: Checker, obj: Raw, path: string, name: string): C | undefined
  /** References to other credentials, checked once every entry is read; `names` are all those defined, valid or not. */
  checkLinks? (c: Checker, cred: C, all: Readonly<Record<string, CredentialBase>>, names: readonly string[]): void
}

const COMMON = ['type', 'timeout', 'insecureHttp'] as const

/** `timeout`: the seconds one token request may take. */
export function readTimeout (c: Checker, obj: Raw, path: string): number | undefined {
  return c.number(obj, 'timeout', path, { default: 10, above: 0, max: 300 })
}

export function readCredential<C extends CredentialBase> (c: Checker, raw: unknown, path: string, name: string,
  schemas: readonly CredentialSchema<C>[]): C | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    c.add(path, 'must be a mapping')
    return undefined
  }
  const type = (raw as Raw).type
  const schema = typeof type === 'string' ? schemas.find((s) => s.type === type) : undefined
  if (schema === undefined) {
    const types = schemas.map((s) => s.type).join(', ')
    c.add(`${path}.type`, type === undefined ? `is required (one of ${types})` : `${JSON.stringify(type)} is not one of ${types}`)
    return undefined
  }
  // Every type takes `ca` (a private CA for the identity service's TLS).
  const obj = c.object(raw, path, [...COMMON, ...schema.keys, 'ca'])
  if (obj === undefined) return undefined
  const cred = schema.read(c, obj, path, name)
  const ca = c.ca(obj, 'ca', path)
  return cred === undefined || ca === undefined ? cred : { ...cred, ca }
}

/** Each credential's references to the others, in config order. */
export function checkCredentialLinks<C extends CredentialBase> (c: Checker, credentials: Readonly<Record<string, C>>,
  names: readonly string[], schemas: readonly CredentialSchema<C>[]): void {
  for (const cred of Object.values(credentials)) schemas.find((s) => s.type === cred.type)?.checkLinks?.(c, cred, credentials, names)
}
