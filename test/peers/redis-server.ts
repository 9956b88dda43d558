// A real redis-server (the Debian package) on a free loopback port with a password: start, freeze, kill, restart, count commands.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import type { SelfSigned } from '../helpers/tls-peers.js'
import { freePort } from './peer-kit.js'

export const REDIS_BIN = 'redis-server'

export interface RedisPeer {
  url: string
  port: number
  password: string
  readonly pid: number
  /** An admin connection (its own commands are left out of commandCount). */
  admin: Redis
  /** SIGSTOP: the server keeps its connections but answers nothing. */
  freeze (): void
  /** SIGCONT. */
  thaw (): void
  /** SIGKILL; resolves once it has exited. */
  kill (): Promise<void>
  /** A fresh, empty server on the same port and password. */
  restart (): Promise<void>
  /** Commands the server executed for others than the admin connection since it started (INFO commandstats). */
  commandCount (): Promise<number>
  /** Every key and its value (strings only: all tokenproxy stores). */
  dump (): Promise<Array<{ key: string, value: string }>>
  close (): Promise<void>
}

/** Why Redis tests cannot run here, or undefined when they can. */
export function redisUnavailable (): string | undefined {
  const r = spawnSync(REDIS_BIN, ['--version'], { encoding: 'utf8' })
  return r.error === undefined && r.status === 0 ? undefined : `${REDIS_BIN} is not installed (apt-get install redis-server)`
}

/**
 * The peer for a test file, or undefined after one skip line (a failure under CI=true) when
 * redis-server is missing; the file ends there.
 */
export async function redisForTest (t: Test, opts: { tls?: SelfSigned } = {}): Promise<RedisPeer | undefined> {
  const unavailable = redisUnavailable()
  if (unavailable !== undefined) {
    if (process.env.CI === 'true') t.fail(`Redis: cannot run here under CI: ${unavailable}`)
    else t.plan(0, `Redis: skipped, ${unavailable}`)
    return undefined
  }
  const peer = await startRedis(opts)
  t.teardown(() => peer.close())
  return peer
}

/** `tls`: serve TLS only (rediss://) with that certificate. */
function spawnServer (port: number, password: string, tls?: SelfSigned): Promise<ChildProcess> {
  const listen = tls === undefined
    ? ['--port', String(port)]
    : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-auth-clients',
        'no']
  const args = [...listen, '--bind', '127.0.0.1', '--requirepass', password, '--save', '', '--appendonly', 'no']
  const proc = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer): void => {
      out += c.toString()
      if (out.includes('Ready to accept connections')) resolve(proc)
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready: ${out.slice(-500)}`)))
  })
}

const exited = (proc: ChildProcess): Promise<void> =>
  proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((resolve) => proc.once('exit', () => resolve()))

export async function startRedis (opts: { tls?: SelfSigned } = {}): Promise<RedisPeer> {
  const port = await freePort()
  const password = `redis-${randomBytes(9).toString('hex')}`
  let proc = await spawnServer(port, password, opts.tls)
  const connectAdmin = (): Redis => {
    const c = new Redis({
      port,
      host: '127.0.0.1',
      password,
      maxRetriesPerRequest: 1,
      ...(opts.tls === undefined ? {} : { tls: { ca: opts.tls.cert } }),
    })
    c.on('error', () => {})
    return c
  }
  const peer: RedisPeer = {
    url: `${opts.tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}/0`,
    port,
    password,
    get pid () { return proc.pid! },
    admin: connectAdmin(),
    freeze () { proc.kill('SIGSTOP') },
    thaw () { proc.kill('SIGCONT') },
    async kill () {
      proc.kill('SIGKILL')
      await exited(proc)
    },
    async restart () {
      proc = await spawnServer(port, password, opts.tls)
      peer.admin.disconnect()
      peer.admin = connectAdmin()
    },
    async commandCount () {
      // The admin connection's own INFO calls are left out by name; tokenproxy never sends INFO.
      const info = await peer.admin.info('commandstats')
      let total = 0
      for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (m[1] !== 'info') total += Number(m[2])
      return total
    },
    async dump () {
      const out: Array<{ key: string, value: string }> = []
      let cursor = '0'
      do {
        const [next, keys] = await peer.admin.scan(cursor, 'COUNT', 100)
        cursor = next
        for (const key of keys) out.push({ key, value: (await peer.admin.get(key)) ?? '' })
      } while (cursor !== '0')
      return out
    },
    async close () {
      peer.admin.disconnect()
      proc.kill('SIGCONT')
      proc.kill('SIGKILL')
      await exited(proc)
    },
  }
  return peer
}
