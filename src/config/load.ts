// Reads the YAML (or JSON) config file, substitutes ${VAR} / ${VAR:-default}, then validates.
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import type { Substitutions } from './checker.js'
import type { CredentialSchema } from './credential-schema.js'
import type { Config, CredentialBase } from './types.js'
import { validateConfig } from './validate.js'

/** Every problem found in a config, each prefixed by its path; the file's path, when there is one, in the header. */
export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[], file?: string) {
    super((file === undefined ? '' : `${file}: `) +
      `invalid configuration:\n  ${problems.map((p) => p.replaceAll('\n', '\n    ')).join('\n  ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const VAR = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** Substitutes environment references in every string of a parsed document. */
function substituteEnv (node: unknown, env: NodeJS.ProcessEnv, problems: string[], path = '', subs: Substitutions = {
  fromEnv: new Map(),
  unset: new Set(),
}): unknown {
  if (typeof node === 'string') {
    return node.replace(VAR, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${'
      const value = env[name!]
      if (value !== undefined && (value !== '' || fallback === undefined)) {
        subs.fromEnv.set(path, [...(subs.fromEnv.get(path) ?? []), name!])
        return value
      }
      if (fallback !== undefined) return fallback
      problems.push(`${path || '(root)'}: environment variable ${name} is not set`)
      subs.unset.add(path)
      return ''
    })
  }
  if (Array.isArray(node)) return node.map((v, i) => substituteEnv(v, env, problems, `${path}[${i}]`, subs))
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) out[k] = substituteEnv(v, env, problems, path ? `${path}.${k}` : k, subs)
    return out
  }
  return node
}

interface ParseOptions<C extends CredentialBase> {
  /** The file the text came from, for the error's header. */
  file?: string
  /** The credential types there are: one schema per identity service. */
  services: readonly CredentialSchema<C>[]
}

export function parseConfig<C extends CredentialBase> (text: string, env: NodeJS.ProcessEnv, opts: ParseOptions<C>): Config<C> {
  const { file } = opts
  let doc: unknown
  try {
    doc = parse(text, { prettyErrors: true, uniqueKeys: true })
  } catch (err) {
    // prettyErrors: the message ends with a code frame (the line, a caret under the column); keep it.
    throw new ConfigError([`(file): not valid YAML: ${(err as Error).message.trimEnd()}`], file)
  }
  const problems: string[] = []
  const subs: Substitutions = { fromEnv: new Map(), unset: new Set() }
  const substituted = substituteEnv(doc ?? {}, env, problems, '', subs)
  const { config, problems: more } = validateConfig(substituted, env, { services: opts.services, subs })
  problems.push(...more)
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems, file)
  return config
}

export function loadConfig<C extends CredentialBase> (file: string, env: NodeJS.ProcessEnv,
  opts: Omit<ParseOptions<C>, 'file'>): Config<C> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([`(file): cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`], file)
  }
  return parseConfig(text, env, { ...opts, file })
}
