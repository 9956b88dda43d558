// Secret rotation: polls the files behind `{ file }` secrets and refetches the tokens of credentials whose secret changed.
import { readFile, stat } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { CredentialBase } from '../config/types.js'
import { Secret, secretFileValue } from '../config/secrets.js'

/** Default poll period: Kubernetes itself takes up to a minute or so to update a Secret volume. */
export const SECRET_POLL_MS = 10_000

interface Watched {
  path: string
  /** Every Secret read from this path (the same file may back several fields). */
  secrets: Secret[]
  /** Credentials that use one of them, in config order. */
  credentials: string[]
  /** stat() of the last read, to skip reading an unchanged file. */
  seen?: string
  /** The last problem logged, so a lasting problem is logged once, not at every poll. */
  problem?: string
}

/** Runs `poll` every `intervalMs`, the next run only after the last has finished; timers never keep the process alive. */
export function pollEvery (intervalMs: number, poll: () => Promise<void>): { start (): void, stop (): void } {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const tick = (): void => {
    timer = setTimeout(() => {
      void poll().finally(() => { if (!stopped) tick() })
    }, intervalMs)
    timer.unref()
  }
  return {
    start: tick,
    stop () {
      stopped = true
      clearTimeout(timer)
    },
  }
}

interface SecretWatchOptions {
  logger: Logger
  /** Called once per credential whose secret changed (fetch a new token with it). */
  onChange: (credential: string) => void
  intervalMs?: number
}

export interface SecretWatch {
  /** Polls every `intervalMs` until stop(); timers never keep the process alive. */
  start (): void
  stop (): void
}

/** Every Secret anywhere in a credential's config (clientSecret, password, client.secret, privateKey, ...). */
function secretsIn (value: unknown, out: Secret[] = []): Secret[] {
  if (value instanceof Secret) out.push(value)
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) secretsIn(v, out)
  return out
}

/** Groups the file-sourced secrets of `credentials` by path. */
function watchedFiles (credentials: Readonly<Record<string, CredentialBase>>): Watched[] {
  const byPath = new Map<string, Watched>()
  for (const cred of Object.values(credentials)) {
    for (const secret of secretsIn(cred)) {
      if (secret.source.kind !== 'file') continue
      const path = secret.source.path
      const w = byPath.get(path) ?? { path, secrets: [], credentials: [] }
      byPath.set(path, w)
      w.secrets.push(secret)
      if (!w.credentials.includes(cred.name)) w.credentials.push(cred.name)
    }
  }
  return [...byPath.values()]
}

export function watchSecretFiles (credentials: Readonly<Record<string, CredentialBase>>, opts: SecretWatchOptions): SecretWatch {
  const files = watchedFiles(credentials)
  const log = opts.logger
  const intervalMs = opts.intervalMs ?? SECRET_POLL_MS
  let stopped = false

  function trouble (w: Watched, problem: string): [] {
    if (w.problem !== problem) {
      w.problem = problem
      log.warn({ file: w.path, credentials: w.credentials }, `secret file ${w.path} ${problem}; keeping the value read before`)
    }
    return []
  }

  /** Re-reads one file; updates its secrets and returns their credentials when the value changed. */
  async function check (w: Watched): Promise<string[]> {
    let value: string
    try {
      // stat and readFile follow symlinks: a Kubernetes `..data` swap shows as a new inode.
      const st = await stat(w.path)
      const seen = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`
      if (seen === w.seen) return []
      value = secretFileValue(await readFile(w.path, 'utf8'))
      w.seen = seen
    } catch (err) {
      return trouble(w, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
    if (value === '') return trouble(w, 'is empty')
    w.problem = undefined
    if (value === w.secrets[0]!.reveal()) return []
    for (const s of w.secrets) s.update(value)
    for (const name of w.credentials) log.info({ credential: name, file: w.path }, 'secret changed')
    return w.credentials
  }

  async function poll (): Promise<void> {
    const changed = (await Promise.all(files.map(check))).flat()
    if (stopped) return
    // After every file is read: a credential whose secret and password both rotated fetches once, with both.
    for (const name of new Set(changed)) opts.onChange(name)
  }

  const ticker = pollEvery(intervalMs, poll)
  return {
    start () {
      if (files.length === 0) return
      log.info({ files: files.map((w) => w.path), intervalS: intervalMs / 1000 }, 'watching secret files for rotation')
      ticker.start()
    },
    stop () {
      stopped = true
      ticker.stop()
    },
  }
}
