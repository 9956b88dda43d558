// What the loopback test peers share: request recording, JSON answers, Basic parsing, token-endpoint faults, listen and close.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'

export { issuedList } from '../helpers/leak-registry.js'

/** One request as it reached a peer (any path, any method). */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  time: number;
}

/**
 * Token-endpoint fault. Faults only affect the peer's token (or login) requests; its other routes
 * keep working. `times` (extension): apply to the next N token requests, then clear itself.
 */
export type Fault =
  | { kind: 'down'; times?: number }
  | { kind: 'delay'; ms: number; times?: number }
  | { kind: 'status'; status: number; body: string; contentType?: string; times?: number }
  | { kind: 'garbage'; times?: number }
  | { kind: 'no-token'; times?: number }

export function readBody (req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

/** Reads the body and describes the request. */
export async function recordRequest (req: IncomingMessage): Promise<RecordedRequest> {
  const body = await readBody(req)
  return { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body, time: Date.now() }
}

export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' }

export function sendJson (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...extra }).end(text)
}

/** RFC 6749 §2.3.1 / application/x-www-form-urlencoded decoding of one Basic credential part. */
function formDecode (part: string): string {
  return decodeURIComponent(part.replace(/\+/g, ' '))
}

/**
 * `Basic base64(id:secret)`, split at the first colon. `formDecoded`: each part is form-decoded
 * (RFC 6749, Keycloak); without it the parts are taken as they are (Spring, REGARDS).
 */
export function parseBasic (header: string | undefined, opts: { formDecoded: boolean }): { id: string; secret: string } | null {
  const m = /^Basic\s+(\S+)\s*$/i.exec(header ?? '')
  if (!m?.[1]) return null
  const decoded = Buffer.from(m[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return null
  const id = decoded.slice(0, colon)
  const secret = decoded.slice(colon + 1)
  if (!opts.formDecoded) return { id, secret }
  try {
    return { id: formDecode(id), secret: formDecode(secret) }
  } catch {
    return null
  }
}

/** Timers a peer is waiting on, cleared when it closes. */
export class PeerTimers {
  readonly #pending = new Set<NodeJS.Timeout>()

  /** Resolves after `ms`, or never if the peer closes first. */
  delay (ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.#pending.delete(t); resolve() }, ms)
      this.#pending.add(t)
    })
  }

  clear (): void {
    for (const t of this.#pending) clearTimeout(t)
    this.#pending.clear()
  }
}

/** The switchable fault of a token endpoint: `set` replaces it, `apply` plays it on one token request. */
export class FaultSwitch<F extends Fault = Fault> {
  #fault: F | null = null
  constructor (private readonly timers: PeerTimers) {}

  set (f: F | null): void {
    this.#fault = f ? { ...f } : null
  }

  /**
   * Counts down and applies the current fault; true when it has answered (or dropped) the request.
   * `noToken` writes the peer's success answer without a token.
   */
  async apply (req: IncomingMessage, res: ServerResponse, noToken: () => void = () => sendJson(res, 200, {})): Promise<boolean> {
    const f: Fault | null = this.#fault
    if (!f) return false
    if (f.times !== undefined && --f.times <= 0) this.#fault = null
    switch (f.kind) {
      case 'down':
        req.socket.destroy()
        return true
      case 'delay':
        await this.timers.delay(f.ms)
        return false
      case 'status': {
        const type = f.contentType ?? (f.body.trimStart().startsWith('{') ? 'application/json' : 'text/html;charset=utf-8')
        req.resume()
        res.writeHead(f.status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(f.body) }).end(f.body)
        return true
      }
      case 'garbage': {
        const text = '<html><body>Proxy error: upstream sent garbage</body></html>'
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text)
        return true
      }
      case 'no-token':
        noToken()
        return true
    }
  }
}

/** Where a Keycloak-shaped peer serves a realm (`prefix` is '' or the legacy '/auth'). */
export interface RealmUrls {
  root: string;
  realm: string;
  issuer: string;
  tokenUrl: string;
  jwksUrl: string;
  discoveryUrl: string;
}

export function realmUrls (origin: string, prefix: string, realm: string): RealmUrls {
  const root = `${origin}${prefix}`
  const issuer = `${root}/realms/${realm}`
  return {
    root,
    realm,
    issuer,
    tokenUrl: `${issuer}/protocol/openid-connect/token`,
    jwksUrl: `${issuer}/protocol/openid-connect/certs`,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
  }
}

export interface PeerServer {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** Clears the peer's timers, stops listening and drops every connection. */
  close(): Promise<void>;
}

/**
 * Listens on a loopback port 0. A handler that throws or rejects gets `fail` (when nothing has
 * been sent yet) or a destroyed response.
 */
export async function listenPeer (
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
  fail: (req: IncomingMessage, res: ServerResponse, err: unknown) => void,
  timers: PeerTimers = new PeerTimers()
): Promise<PeerServer> {
  const server = createServer((req, res) => {
    const failed = (err: unknown): void => {
      if (!res.headersSent) fail(req, res, err)
      else res.destroy()
    }
    try {
      handler(req, res)?.catch(failed)
    } catch (err) {
      failed(err)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    async close () {
      timers.clear()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    },
  }
}

/** A loopback port that was free a moment ago, for a server that must be told its port (redis-server, a dedicated listener). */
export async function freePort (): Promise<number> {
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
