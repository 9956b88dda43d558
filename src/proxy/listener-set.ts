// Every proxy listener a config asks for: the shared one (`listen`, the upstreams with a prefix) and one per dedicated port.
import type { UpstreamConfig } from '../config/types.js'
import { ProxyListener, type ProxyListenerOptions } from './listener.js'

type Prefixed = UpstreamConfig & { prefix: string }

/** What every listener of the set shares; the name, port and routes are the set's to give. */
export type SharedOptions = Omit<ProxyListenerOptions, 'name' | 'port' | 'atRoot'>

export class ProxyListenerSet {
  readonly #byName = new Map<string, ProxyListener>()
  readonly #opts: SharedOptions
  /** `listen.port`: it takes a restart to change, as the limits in `opts` do. */
  readonly #port: number

  constructor (opts: SharedOptions, port: number) {
    this.#opts = opts
    this.#port = port
  }

  get all (): ProxyListener[] { return [...this.#byName.values()] }

  async #open (name: string, port: number, atRoot: boolean, upstreams: UpstreamConfig[]): Promise<ProxyListener> {
    return await ProxyListener.create({ ...this.#opts, name, port, atRoot }, upstreams)
  }

  /**
   * Serves `upstreams`: new apps behind the listeners kept (their sockets stay), listeners made for
   * new dedicated ports (not yet listening), removed ones closed. Returns the names of those closed.
   */
  async apply (upstreams: Record<string, UpstreamConfig>): Promise<string[]> {
    const all = Object.values(upstreams)
    const prefixed = all.filter((u): u is Prefixed => u.prefix !== undefined)
    const shared = this.#byName.get('listen')
    if (shared !== undefined) await shared.serve(prefixed)
    else if (prefixed.length > 0) this.#byName.set('listen', await this.#open('listen', this.#port, false, prefixed))
    const wanted = new Map(all.filter((u) => u.port !== undefined).map((u) => [`upstreams.${u.name}`, u]))
    const closed: string[] = []
    for (const [name, l] of this.#byName) {
      if (name === 'listen' || wanted.has(name)) continue
      this.#byName.delete(name)
      closed.push(name)
      void l.close()
    }
    for (const [name, u] of wanted) {
      const have = this.#byName.get(name)
      if (have !== undefined && have.port === u.port) {
        await have.serve([u])
        continue
      }
      if (have !== undefined) void have.close()
      this.#byName.set(name, await this.#open(name, u.port!, true, [u]))
    }
    return closed
  }

  /** Stops every listener and waits for its in-flight requests. */
  async close (): Promise<void> {
    await Promise.all(this.all.map(async (l) => { await l.close() }))
  }
}
