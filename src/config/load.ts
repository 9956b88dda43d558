// Reads the YAML (or JSON) config file, substitutes ${VAR} / ${VAR:-default}, then validates.
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import type { Config } from './types.js'
import { validateConfig } from './validate.js'

/** Every problem found in a config, each prefixed by its path. */
export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const VAR = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** Substitutes environment references in every string of a parsed document. */
export function substituteEnv (node: unknown, env: NodeJS.ProcessEnv, problems: string[], path = ''): unknown {
  if (typeof node === 'string') {
    return node.replace(VAR, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${'
      const value = env[name!]
      if (value !== undefined && (value !== '' || fallback === undefined)) return value
      if (fallback !== undefined) return fallback
      problems.push(`${path || '(root)'}: environment variable ${name} is not set`)
      return ''
    })
  }
  if (Array.isArray(node)) return node.map((v, i) => substituteEnv(v, env, problems, `${path}[${i}]`))
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) out[k] = substituteEnv(v, env, problems, path ? `${path}.${k}` : k)
    return out
  }
  return node
}

export function parseConfig (text: string, env: NodeJS.ProcessEnv = process.env): Config {
  let doc: unknown
  try {
    doc = parse(text, { prettyErrors: true, uniqueKeys: true })
  } catch (err) {
    throw new ConfigError([`(file): not valid YAML: ${(err as Error).message.split('\n')[0]}`])
  }
  const problems: string[] = []
  const substituted = substituteEnv(doc ?? {}, env, problems)
  const { config, problems: more } = validateConfig(substituted, env)
  problems.push(...more)
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems)
  return config
}

export function loadConfig (file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([`(file): cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`])
  }
  return parseConfig(text, env)
}
