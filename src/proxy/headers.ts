// Request and response header rules: strip client credentials, hop-by-hop fields and spoofable forwarding headers, inject one Bearer.
import type { IncomingHttpHeaders } from 'node:http'
import type { ForwardedMode } from '../config/types.js'

/** Credentials a client might send; the upstream only ever sees tokenproxy's. */
const CLIENT_CREDENTIALS = ['authorization', 'proxy-authorization', 'waltid-authorization'] as const

/** Hop-by-hop fields (RFC 9110 §7.6.1) that a proxy never forwards. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'] as const

/** Rewrite the URL behind the route guard's back on IIS-style stacks (URL Rewrite, some frameworks): never forwarded. */
const URL_OVERRIDES = ['x-original-url', 'x-rewrite-url'] as const

/** Change the method a framework acts on; forwarded only where the upstream sets `methodOverride: true`. */
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const

/** Who the client is and how it came (RFC 7239 Forwarded, X-Real-IP); with every `x-forwarded-*` header. */
const FORWARDING = ['forwarded', 'x-real-ip'] as const

/** What the upstream is told about the client, per `upstreams.NAME.forwarded` (Envoy's model: the edge proxy decides). */
export interface Forwarding {
  mode: ForwardedMode
  methodOverride: boolean
  /** The client's address, for X-Forwarded-For (mode `set`). */
  clientIp?: string
  /** The Host the client asked for (mode `set`). */
  host?: string
  /** The route's prefix on the shared listener (mode `set`), '' on a dedicated port. */
  prefix?: string
}

/** Names listed in Connection, which are hop-by-hop for this message (RFC 9110 §7.6.1). */
function connectionListed (value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  const joined = Array.isArray(value) ? value.join(',') : value
  return joined.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '')
}

function stripHopByHop (headers: Record<string, unknown>, connection: string | string[] | undefined): void {
  for (const name of connectionListed(connection)) delete headers[name]
  for (const name of HOP_BY_HOP) delete headers[name]
}

/** Never forwarded: hop-by-hop fields, the client's credentials, URL overrides, Expect (Node answered it) and Host (the upstream's own). */
const DROPPED = new Set<string>([...HOP_BY_HOP, ...CLIENT_CREDENTIALS, ...URL_OVERRIDES, 'expect', 'host'])
const METHOD_OVERRIDE_SET = new Set<string>(METHOD_OVERRIDES)
const FORWARDING_SET = new Set<string>(FORWARDING)

/**
 * Headers for the upstream request, built in one pass over the client's: the Connection-listed
 * names are read from the client's set before anything is added, so a client cannot name the
 * Authorization that tokenproxy adds. `host` is the upstream's.
 */
export function upstreamRequestHeaders (client: IncomingHttpHeaders, host: string, token: string,
  f: Forwarding): IncomingHttpHeaders {
  const listed = client.connection === undefined ? undefined : connectionListed(client.connection)
  const dropForwarding = f.mode !== 'keep'
  const headers: IncomingHttpHeaders = { host }
  for (const name in client) {
    if (DROPPED.has(name) || listed?.includes(name) === true) continue
    if (!f.methodOverride && METHOD_OVERRIDE_SET.has(name)) continue
    if (dropForwarding && (FORWARDING_SET.has(name) || name.startsWith('x-forwarded-'))) continue
    headers[name] = client[name]
  }
  if (f.mode === 'set') {
    if (f.clientIp !== undefined) headers['x-forwarded-for'] = f.clientIp
    headers['x-forwarded-proto'] = 'http'
    if (f.host !== undefined) headers['x-forwarded-host'] = f.host
    if (f.prefix !== undefined && f.prefix !== '') headers['x-forwarded-prefix'] = f.prefix
  }
  headers.authorization = `Bearer ${token}`
  return headers
}

/** Headers for the client's response: the upstream's, less hop-by-hop fields. */
export function clientResponseHeaders<T extends Record<string, unknown>> (headers: T): T {
  stripHopByHop(headers, headers.connection as string | string[] | undefined)
  return headers
}

/**
 * A redirect within the upstream, seen from the client: a Location path under the target's base
 * path gets the route's prefix in its place (`/base/login` -> `/registry/login`). Absolute URLs,
 * relative references and paths elsewhere on the upstream are left as they are.
 */
export function clientLocation (location: string, prefix: string, basePath: string): string {
  if (!location.startsWith('/') || location.startsWith('//') || !location.startsWith(basePath)) return location
  const rest = location.slice(basePath.length)
  if (rest !== '' && !/^[/?#]/.test(rest)) return location
  return `${prefix}${rest}`
}

/** Characters a header value may not carry (Node refuses to send them): the upstream's are dropped, not fatal. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/g

/** Drops invalid characters from every value; called only when Node refused the headers as they were. */
export function sanitizeHeaderValues (headers: Record<string, string | string[] | undefined>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') headers[name] = value.replace(INVALID_VALUE, '')
    else if (Array.isArray(value)) headers[name] = value.map((v) => v.replace(INVALID_VALUE, ''))
  }
}
