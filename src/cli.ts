#!/usr/bin/env node
// argv and env -> load config -> build server -> listen; signals. Exit 0 stop, 1 failure, 2 usage/config.
import { createRequire } from 'node:module'
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { summarize } from './commands/check.js'
import { inspectToken } from './commands/token.js'
import { ConfigError, loadConfig } from './config/load.js'
import type { Config } from './config/types.js'
import { runDemo } from './demo/demo.js'
import { buildServer, type Sidecar } from './server.js'

const USAGE = `usage:
  tokenproxy [run] --config FILE         run the sidecar (or set TOKENPROXY_CONFIG)
  tokenproxy check --config FILE         validate the config and print a summary (exit 0 valid, 2 invalid)
  tokenproxy token NAME --config FILE [--raw]
                                         obtain one token for credential NAME and show its claims
  tokenproxy demo [--port N] [--admin-port N]
                                         dev identity provider + echo upstream + sidecar, in one process
  tokenproxy --version | --help`

export class UsageError extends Error {}

interface Io { out: (s: string) => void, err: (s: string) => void, env: NodeJS.ProcessEnv }

function configFrom (file: string | undefined, io: Io): { config: Config, file: string } {
  const path = file ?? io.env.TOKENPROXY_CONFIG
  if (path === undefined || path === '') throw new UsageError('no config: pass --config FILE or set TOKENPROXY_CONFIG')
  return { config: loadConfig(path, io.env), file: path }
}

/** Runs until a signal; resolves with the exit code. */
export async function run (config: Config, onStarted?: (s: Sidecar) => void, source?: { file: string, env: NodeJS.ProcessEnv }): Promise<number> {
  const sidecar = await buildServer(config, source === undefined ? {} : { configFile: source.file, env: source.env })
  try {
    await sidecar.start()
  } catch (err) {
    sidecar.logger.fatal({ err }, `cannot start: ${(err as Error).message}`)
    await sidecar.close(0)
    return 1
  }
  onStarted?.(sidecar)
  return await new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        sidecar.logger.warn({ signal }, 'second signal: exiting now')
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

export async function main (argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      raw: { type: 'boolean' },
      port: { type: 'string' },
      'admin-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  })
  if (values.help) {
    io.out(USAGE)
    return 0
  }
  if (values.version) {
    io.out((createRequire(import.meta.url)('../package.json') as { version: string }).version)
    return 0
  }
  const [command = 'run', ...rest] = positionals
  switch (command) {
    case 'run': {
      if (rest.length > 0) throw new UsageError(`run takes no arguments (got ${rest.join(' ')})`)
      const { config, file } = configFrom(values.config, io)
      return await run(config, undefined, { file, env: io.env })
    }
    case 'check': {
      const { config, file } = configFrom(values.config, io)
      io.out(summarize(config, file))
      return 0
    }
    case 'token': {
      if (rest.length !== 1) throw new UsageError('token takes exactly one credential NAME')
      const report = await inspectToken(configFrom(values.config, io).config, rest[0]!)
      io.out(values.raw ? report.raw : report.text)
      return 0
    }
    case 'demo':
      return await runDemo({ port: values.port, adminPort: values['admin-port'], out: io.out, run })
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
}

/** Maps thrown errors to exit codes: 2 for usage and config, 1 for the rest. */
export async function cli (argv: string[], io: Io): Promise<number> {
  try {
    return await main(argv, io)
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(err.message)
      return 2
    }
    if (err instanceof UsageError || err instanceof RangeError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`tokenproxy: ${(err as Error).message}\n${USAGE}`)
      return 2
    }
    io.err(`tokenproxy: ${(err as Error).message}`)
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
    // Explicit exit: keep-alive agents and timers must not hold a stopped process open.
    process.exit(code)
  })
}
