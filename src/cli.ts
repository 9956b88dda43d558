#!/usr/bin/env node
// argv and env -> load config -> build server -> listen; signals. Exit 0 stop, 1 failure, 2 usage/config.
import { createRequire } from 'node:module'
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { summarize } from './commands/check.js'
import { inspectToken } from './commands/token.js'
import { commandUsage, helpText, parseCommandLine, USAGE, UsageError } from './commands/usage.js'
import { LOG_LEVELS } from './config/validate.js'
import { ConfigError, loadConfig, type Config } from './configuration.js'
import { runDemo } from './demo/demo.js'
import { buildServer, ListenError, type Sidecar } from './server.js'

interface Io { out: (s: string) => void, err: (s: string) => void, env: NodeJS.ProcessEnv }

function configFrom (file: string | undefined, io: Io): { config: Config, file: string } {
  const path = file ?? io.env.TOKENPROXY_CONFIG
  if (path === undefined || path === '') throw new UsageError('no config: pass --config FILE or set TOKENPROXY_CONFIG')
  return { config: loadConfig(path, io.env), file: path }
}

/** `TOKENPROXY_LOG_LEVEL` wins over the config's `log.level` (for one run, without editing the file). */
function withEnvLogLevel (config: Config, env: NodeJS.ProcessEnv): Config {
  const level = env.TOKENPROXY_LOG_LEVEL
  if (level === undefined || level === '') return config
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`TOKENPROXY_LOG_LEVEL: ${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(', ')}`)
  }
  return { ...config, log: { ...config.log, level } }
}

/**
 * Runs until a signal; resolves with the exit code. `moves` names, per config key (`listen.port`), the
 * flag that sets it instead (the demo's `--port`), for the message when a port is taken.
 */
async function run (config: Config, onStarted?: (s: Sidecar) => void, moves: Record<string, string> = {},
  source?: { file: string, env: NodeJS.ProcessEnv }): Promise<number> {
  // With the file it came from, the config reloads on SIGHUP and when the file changes.
  const sidecar = await buildServer(config, source === undefined ? {} : { configFile: source.file, env: source.env })
  try {
    await sidecar.start()
  } catch (err) {
    if (err instanceof ListenError) {
      // One line that says which listener and what to change; the stack would only hide it.
      const fix = moves[err.key] ?? `${err.key} in the config`
      sidecar.logger.fatal({ listener: err.listener, address: err.address, code: err.code }, `cannot start: ${err.message}; change ${fix}`)
    } else {
      sidecar.logger.fatal({ err }, `cannot start: ${(err as Error).message}`)
    }
    await sidecar.close(0)
    return 1
  }
  onStarted?.(sidecar)
  return await new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        sidecar.logger.warn({ signal }, 'second signal: exiting now')
        // What is still in flight is cut, as a second signal asks; the shutdown under way then closes the rest.
        sidecar.abort()
        resolve(1)
        return
      }
      stopping = true
      sidecar.logger.info({ signal, graceS: config.shutdownGrace }, 'stopping: finishing in-flight requests')
      sidecar.close().then(() => resolve(0), (err: unknown) => {
        sidecar.logger.error({ err }, 'error while stopping')
        resolve(1)
      })
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
    // SIGHUP reloads the config file, as nginx does; without a file (the demo) it is logged and ignored.
    process.on('SIGHUP', () => {
      if (stopping) return
      if (source === undefined) sidecar.logger.warn('SIGHUP: no config file to reload')
      else void sidecar.reloadFile('SIGHUP')
    })
  })
}

async function main (argv: string[], io: Io): Promise<number> {
  const p = parseCommandLine(argv)
  if (p.command === 'help' || p.help) {
    io.out(p.command === 'help' ? helpText(p.args[0]) : (p.named ? commandUsage(p.command) : USAGE))
    return 0
  }
  if (p.version) {
    io.out((createRequire(import.meta.url)('../package.json') as { version: string }).version)
    return 0
  }
  const runWithEnv = (config: Config, onStarted?: (s: Sidecar) => void, moves?: Record<string, string>, file?: string): Promise<number> =>
    run(withEnvLogLevel(config, io.env), onStarted, moves, file === undefined ? undefined : { file, env: io.env })
  switch (p.command) {
    case 'run': {
      const { config, file } = configFrom(p.config, io)
      return await runWithEnv(config, undefined, undefined, file)
    }
    case 'check': {
      const { config, file } = configFrom(p.config, io)
      io.out(summarize(config, file))
      return 0
    }
    case 'token': {
      const report = await inspectToken(configFrom(p.config, io).config, p.args[0]!)
      io.out(p.raw ? report.raw : report.text)
      return 0
    }
    case 'demo':
      return await runDemo({ port: p.port, adminPort: p.adminPort, out: io.out, run: runWithEnv })
  }
}

/** Maps thrown errors to exit codes: 2 for usage and config, 1 for the rest; one message, never a stack. */
export async function cli (argv: string[], io: Io): Promise<number> {
  try {
    return await main(argv, io)
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(err.message)
      return 2
    }
    if (err instanceof UsageError) {
      io.err(`tokenproxy: ${err.message}\n${err.command === undefined ? USAGE : commandUsage(err.command)}`)
      return 2
    }
    io.err(`tokenproxy: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href
if (isMain) {
  void cli(process.argv.slice(2), {
    out: (s) => process.stdout.write(`${s}\n`),
    err: (s) => process.stderr.write(`${s}\n`),
    env: process.env,
  }).then((code) => {
    // No process.exit: whatever a command opened it has closed, so the process ends once the output is written.
    process.exitCode = code
  })
}
