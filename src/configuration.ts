// The config as tokenproxy reads it: config/'s generic loader, bound to the identity services of the registry.
import { loadConfig as load, parseConfig as parse } from './config/load.js'
import type { Config as ConfigWith } from './config/types.js'
import { SERVICES, type CredentialConfig } from './credentials/registry.js'

export { ConfigError } from './config/load.js'
export type { CredentialConfig }

/** A validated config whose credentials are those of the registry's services. */
export type Config = ConfigWith<CredentialConfig>

export function parseConfig (text: string, env: NodeJS.ProcessEnv = process.env, file?: string): Config {
  return parse<CredentialConfig>(text, env, { file, services: SERVICES })
}

export function loadConfig (file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return load<CredentialConfig>(file, env, { services: SERVICES })
}
