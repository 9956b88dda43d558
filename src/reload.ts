// Live config: re-reads the config file on SIGHUP or when its contents change, validates it, then applies it.
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { ConfigError, parseConfig, type Config } from './configuration.js'
import type { Metrics } from './observability/metrics.js'
import { SECRET_POLL_MS, pollEvery } from './tokens/secret-watch.js'

export type ReloadTrigger = 'SIGHUP' | 'file'

interface ConfigWatchOptions {
  file: string
  env: NodeJS.ProcessEnv
  logger: Logger
  metrics: Metrics
  /** Applies a validated config. */
  apply: (next: Config) => Promise<unknown>
  /** How often the file's contents are compared (default 10 s, the `{ file }` secrets' tick). */
  intervalMs?: number
}

export interface ConfigWatch {
  /** Starts comparing the file's contents every interval; timers never keep the process alive. */
  start (): void
  stop (): void
  /** Reloads now (SIGHUP), after any reload in progress; resolves when applied or refused. */
  reload (trigger: ReloadTrigger): Promise<void>
}

export function watchConfigFile (opts: ConfigWatchOptions): ConfigWatch {
  const { file, logger: log, metrics } = opts
  const intervalMs = opts.intervalMs ?? SECRET_POLL_MS
  let last: string | undefined
  let stopped = false
  let queue: Promise<void> = Promise.resolve()

  async function read (): Promise<string | ConfigError> {
    try {
      return await readFile(file, 'utf8')
    } catch (err) {
      return new ConfigError([`(file): cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`])
    }
  }

  async function attempt (trigger: ReloadTrigger, known?: string): Promise<void> {
    const text = known ?? await read()
    let next: Config
    try {
      if (text instanceof ConfigError) throw text
      // A ConfigMap update swaps a symlink: compare what the file says, not when it changed.
      last = text
      next = parseConfig(text, opts.env)
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      metrics.configReloads.inc({ outcome: 'invalid' })
      for (const problem of err.problems) log.error({ file, trigger, problem }, `config reload refused: ${problem}`)
      log.error({ file, trigger, problems: err.problems.length }, 'config reload refused: the running config stays in effect')
      return
    }
    await opts.apply(next)
    metrics.configReloads.inc({ outcome: 'applied' })
  }

  function reload (trigger: ReloadTrigger, known?: string): Promise<void> {
    queue = queue.then(async () => { await attempt(trigger, known) }, () => {})
    return queue
  }

  async function poll (): Promise<void> {
    const text = await read()
    if (typeof text === 'string' && text !== last && !stopped) await reload('file', text)
  }

  const ticker = pollEvery(intervalMs, poll)

  return {
    start () {
      try {
        last ??= readFileSync(file, 'utf8')
      } catch { /* unreadable now: the first readable version counts as a change */ }
      ticker.start()
    },
    stop () {
      stopped = true
      ticker.stop()
    },
    reload: async (trigger) => { await reload(trigger) },
  }
}
