// Proxy-path test fixture: Keycloak emulator + recording upstream + sidecar, raw HTTP over node:net, /metrics parsing.
import { connect } from 'node:net'
import type { Test } from 'tap'
import { startKeycloak, type KeycloakEmulator, type KeycloakOptions } from '../peers/keycloak-emulator.js'
import { startUpstream, type Upstream, type UpstreamHandler } from '../peers/upstream.js'
import type { BuildOptions } from '../../src/server.js'
import { startSidecar, until, type Running } from './sidecar.js'

export interface ProxyStack extends Running {
  idp: KeycloakEmulator
  up: Upstream
  /** Parsed /metrics from the admin listener. */
  scrape (): Promise<Sample[]>
}

export interface StackOptions {
  /** Keycloak emulator options (default: token lifespan 300 s). */
  idp?: KeycloakOptions
  /** Custom upstream handler (used by the upstream's echo mode). */
  handler?: UpstreamHandler
  /** Extra keys for `upstreams.registry` (target defaults to the upstream peer, prefix /registry); a function gets the peer's URL. */
  upstream?: Record<string, unknown> | ((upUrl: string) => Record<string, unknown>)
  /** Extra top-level config keys (merged over the defaults). */
  doc?: Record<string, unknown>
  /** Wait until the registry credential holds a token before returning (default true). */
  ready?: boolean
  /** Options for buildServer (a test's refetch floor, say). */
  build?: BuildOptions
}

/** Keycloak credential config for the emulator's default client. */
export function keycloakCredential (idp: KeycloakEmulator): Record<string, unknown> {
  return { type: 'keycloak', url: idp.root, realm: idp.realm, clientId: 'test-client', clientSecret: 'test-secret' }
}

/** Starts the emulator, the upstream and a sidecar with one upstream `registry` on prefix /registry. */
export async function startStack (t: Test, opts: StackOptions = {}): Promise<ProxyStack> {
  const idp = await startKeycloak(opts.idp)
  t.teardown(() => idp.close())
  const up = await startUpstream(opts.handler === undefined ? {} : { handler: opts.handler })
  t.teardown(() => up.close())
  const running = await startSidecar(t, {
    credentials: { registry: keycloakCredential(idp) },
    upstreams: {
      registry: {
        target: up.url,
        credential: 'registry',
        prefix: '/registry',
        ...(typeof opts.upstream === 'function' ? opts.upstream(up.url) : opts.upstream),
      }
    },
    ...opts.doc,
  }, opts.build)
  if (opts.ready !== false) {
    await until(() => running.sidecar.tokens.usable('registry') !== undefined, 5000, 'the first registry token')
  }
  return { ...running, idp, up, scrape: () => scrape(running.admin) }
}

/** The Bearer token an upstream request carried, or null. */
export function bearerOf (headers: { authorization?: string }): string | null {
  const m = /^Bearer (\S+)$/.exec(headers.authorization ?? '')
  return m?.[1] ?? null
}

/** Every value of header `name` in a flat rawHeaders list. */
export function rawValues (rawHeaders: string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === name.toLowerCase()) out.push(rawHeaders[i + 1]!)
  }
  return out
}

export interface RawResponse {
  status: number
  /** Lower-cased header names; repeated headers joined with ', '. */
  headers: Record<string, string>
  /** Header names in the order received, as sent. */
  names: string[]
  body: string
  raw: string
}

/** True once `buf` holds one complete response (framed by content-length, chunked, or no body). */
function complete (buf: string): boolean {
  const end = buf.indexOf('\r\n\r\n')
  if (end === -1) return false
  const head = buf.slice(0, end)
  const body = buf.slice(end + 4)
  if (/^HTTP\/1\.[01] (1\d\d|204|304)/.test(head)) return true
  const len = /\r\ncontent-length:\s*(\d+)/i.exec(head)
  if (len !== null) return Buffer.byteLength(body, 'latin1') >= Number(len[1])
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return /(^|\r\n)0\r\n(.*\r\n)*\r\n$/.test(body)
  return false
}

/**
 * Sends `head` (request line + headers, without the final blank line) and `body` over a fresh
 * socket to `base` (http://127.0.0.1:PORT) and reads one response (until it is complete or the
 * server closes). Adds `Host` and `Connection: close` unless the head has them. Clients like
 * undici normalise paths and refuse hop-by-hop headers; this does neither.
 */
export async function rawRequest (base: string, head: string, body = ''): Promise<RawResponse> {
  const { hostname, port } = new URL(base)
  const lines = head.split('\r\n')
  if (!lines.some((l) => /^connection:/i.test(l))) lines.push('Connection: close')
  if (!lines.some((l) => /^host:/i.test(l))) lines.splice(1, 0, `Host: ${hostname}:${port}`)
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) })
    let got = ''
    const done = (): void => { clearTimeout(timer); socket.destroy(); resolve(got) }
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete response from ${base} within 5 s; got: ${got}`)) },
      5000)
    socket.on('data', (c: Buffer) => {
      got += c.toString('latin1')
      if (complete(got)) done()
    })
    socket.on('error', (err) => { clearTimeout(timer); reject(err) })
    socket.on('close', done)
    socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`)
  })
  return parseRawResponse(text)
}

function dechunk (body: string): string {
  let out = ''
  let rest = body
  for (;;) {
    const nl = rest.indexOf('\r\n')
    if (nl === -1) return out
    const size = Number.parseInt(rest.slice(0, nl), 16)
    if (!Number.isFinite(size) || size === 0) return out
    out += rest.slice(nl + 2, nl + 2 + size)
    rest = rest.slice(nl + 2 + size + 2)
  }
}

export function parseRawResponse (raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1) throw new Error(`not an HTTP response: ${JSON.stringify(raw.slice(0, 200))}`)
  const [statusLine, ...headerLines] = raw.slice(0, end).split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')
  if (m === null) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`)
  const headers: Record<string, string> = {}
  const names: string[] = []
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim()
    const value = line.slice(colon + 1).trim()
    names.push(name)
    const key = name.toLowerCase()
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`
  }
  let body = raw.slice(end + 4)
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body)
  return { status: Number(m[1]), headers, names, body, raw }
}

/** One sample of Prometheus text: name, labels and value. */
export interface Sample { name: string, labels: Record<string, string>, value: number }

export function parseMetrics (text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`unparseable metrics line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

/** Fetches /metrics from the admin listener and parses it. */
export async function scrape (admin: string): Promise<Sample[]> {
  const res = await fetch(`${admin}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  return parseMetrics(await res.text())
}

/**
 * The value of the sample `name` whose labels include `labels` (exactly one must match), or 0
 * when none does (a counter that was never incremented is not exported).
 */
export function metricValue (samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return hits[0]?.value ?? 0
}
