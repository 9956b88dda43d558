// The CLI's commands, their flags and usage texts; argv -> command + values, or a usage error that says what to type.
import { parseArgs } from 'node:util'

type Flag = 'config' | 'raw' | 'port' | 'admin-port' | 'help' | 'version'

interface Command {
  /** One usage line, as in `tokenproxy help`. */
  synopsis: string
  summary: string
  flags: readonly Flag[]
  /** Positional arguments, as named in the synopsis (run, check, demo take none). */
  args: readonly string[]
  details?: string
}

const FLAG_OPTIONS = {
  config: { type: 'string', short: 'c' },
  raw: { type: 'boolean' },
  port: { type: 'string' },
  'admin-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const

const FLAG_HELP: Record<Flag, string> = {
  config: '--config FILE, -c FILE   the YAML config (or set TOKENPROXY_CONFIG)',
  raw: '--raw                    print only the token, for scripts',
  port: '--port N                 the proxy listener\'s port (default 8080)',
  'admin-port': '--admin-port N           the admin listener\'s port (default 9901)',
  help: '--help, -h               this text',
  version: '--version, -v            the version',
}

export const COMMANDS = {
  run: {
    synopsis: 'tokenproxy [run] --config FILE',
    summary: 'run the sidecar (the default command)',
    flags: ['config', 'help'],
    args: [],
  },
  check: {
    synopsis: 'tokenproxy check --config FILE',
    summary: 'validate the config and print a summary (exit 0 valid, 2 invalid)',
    flags: ['config', 'help'],
    args: [],
  },
  token: {
    synopsis: 'tokenproxy token NAME --config FILE [--raw]',
    summary: 'obtain one token for credential NAME and show its claims',
    flags: ['config', 'raw', 'help'],
    args: ['NAME'],
  },
  demo: {
    synopsis: 'tokenproxy demo [--port N] [--admin-port N]',
    summary: 'dev identity provider + echo upstream + sidecar, in one process',
    flags: ['port', 'admin-port', 'help'],
    args: [],
  },
  help: { synopsis: 'tokenproxy help [COMMAND]', summary: 'this text, or one command\'s', flags: ['help'], args: [] },
} satisfies Record<string, Command>

export type CommandName = keyof typeof COMMANDS
const NAMES = Object.keys(COMMANDS) as CommandName[]

const ENVIRONMENT = `environment:
  TOKENPROXY_CONFIG      the config file, when --config is not given
  TOKENPROXY_LOG_LEVEL   overrides log.level: fatal, error, warn, info, debug, trace, silent
  NO_COLOR               no colours in pretty logs`

export const USAGE = `usage:
${NAMES.map((n) => `  ${COMMANDS[n].synopsis.padEnd(46)} ${COMMANDS[n].summary}`).join('\n')}
  ${'tokenproxy --version'.padEnd(46)} the version
  ${'tokenproxy COMMAND --help'.padEnd(46)} one command's flags

${ENVIRONMENT}`

/** `tokenproxy CMD --help`: the command's synopsis, summary and flags. */
export function commandUsage (name: CommandName): string {
  const c: Command = COMMANDS[name]
  const flags = c.flags.map((f) => `  ${FLAG_HELP[f]}`).join('\n')
  const environment = c.flags.includes('config') ? `\n\n${ENVIRONMENT}` : ''
  return `usage: ${c.synopsis}\n  ${c.summary}\n\nflags:\n${flags}${environment}`
}

export class UsageError extends Error {
  /** The command whose usage to print with the message (undefined: the overview). */
  constructor (message: string, readonly command?: CommandName) { super(message) }
}

/** Edit distance, for "did you mean". */
function distance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]!
}

function closest (word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1
  for (const c of candidates) {
    const d = distance(word, c)
    if (d < bestD) { best = c; bestD = d }
  }
  return best
}

/** Flags that take a value: their value is not the command. */
const VALUED = new Set(['--config', '-c', '--port', '--admin-port'])

function findCommand (argv: string[]): { name: string | undefined, rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') break
    if (a.startsWith('-')) {
      if (VALUED.has(a)) i++
      continue
    }
    return { name: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] }
  }
  return { name: undefined, rest: argv }
}

export interface Parsed {
  command: CommandName
  /** False when argv named no command (`run` by default). */
  named: boolean
  args: string[]
  config?: string
  raw: boolean
  port?: string
  adminPort?: string
  help: boolean
  version: boolean
}

/** argv (without node and the script) -> the command and its values; throws UsageError. */
export function parseCommandLine (argv: string[]): Parsed {
  const found = findCommand(argv)
  if (found.name !== undefined && !(found.name in COMMANDS)) {
    const guess = closest(found.name, NAMES)
    throw new UsageError(`unknown command "${found.name}"${guess === undefined ? '' : `: did you mean "${guess}"?`}`)
  }
  // Without a command: `run`, which also answers the global --help and --version.
  const command = (found.name ?? 'run') as CommandName
  const flags: readonly Flag[] = found.name === undefined ? [...COMMANDS.run.flags, 'version'] : COMMANDS[command].flags
  const { tokens } = parseArgs({ args: found.rest, options: FLAG_OPTIONS, strict: false, allowPositionals: true, tokens: true })
  for (const tok of tokens) {
    if (tok.kind !== 'option') continue
    const name = tok.name as Flag
    if (flags.includes(name)) continue
    const known = flags.flatMap((f) => [`--${f}`])
    const guess = closest(tok.rawName.replace(/=.*$/, ''), known)
    const owners = NAMES.filter((n) => (COMMANDS[n].flags as readonly string[]).includes(name)).join(', ')
    const elsewhere = name in FLAG_OPTIONS ? ` (${tok.rawName} belongs to ${owners || 'tokenproxy without a command'})` : ''
    throw new UsageError(`${command} does not take ${tok.rawName}${elsewhere}${guess === undefined ? '' : `: did you mean ${guess}?`}`,
      command)
  }
  let values: Record<string, string | boolean | undefined>
  let positionals: string[]
  try {
    ({ values, positionals } = parseArgs({ args: found.rest, options: FLAG_OPTIONS, strict: true, allowPositionals: true }))
  } catch (err) {
    // Node's own words ("Option '-c, --config <value>' argument missing"), without the advice about '--'.
    throw new UsageError((err as Error).message.replace(/\. To specify .*$/s, ''), command)
  }
  const expected = (COMMANDS[command] as Command).args
  if (command !== 'help' && !values.help && positionals.length !== expected.length) {
    throw new UsageError(expected.length === 0
      ? `${command} takes no arguments (got ${positionals.join(' ')})`
      : `${command} takes exactly one credential ${expected.join(' ')}`, command)
  }
  return {
    command,
    named: found.name !== undefined,
    args: positionals,
    config: values.config as string | undefined,
    raw: values.raw === true,
    port: values.port as string | undefined,
    adminPort: values['admin-port'] as string | undefined,
    help: values.help === true,
    version: values.version === true,
  }
}

/** `tokenproxy help [CMD]`. */
export function helpText (topic: string | undefined): string {
  if (topic === undefined) return USAGE
  if (!(topic in COMMANDS)) {
    throw new UsageError(`no command "${topic}"${closest(topic, NAMES) === undefined ? '' : `: did you mean "${closest(topic, NAMES)}"?`}`)
  }
  return commandUsage(topic as CommandName)
}
