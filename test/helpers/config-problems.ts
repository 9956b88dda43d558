// The problems a config text is refused with; throws when the config is accepted, so a test cannot pass vacuously.
import { ConfigError, parseConfig } from '../../src/configuration.js'

export function configProblems (text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  throw new Error('the config was accepted')
}
