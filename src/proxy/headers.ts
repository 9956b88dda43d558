// Request and response header rules: strip client credentials and hop-by-hop fields, inject one Bearer.
import type { IncomingHttpHeaders } from 'node:http'

/** Credentials a client might send; the upstream only ever sees tokenproxy's. */
const CLIENT_CREDENTIALS = ['authorization', 'proxy-authorization', 'waltid-authorization'] as const

/** Hop-by-hop fields (RFC 9110 §7.6.1) that a proxy never forwards. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'] as const

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

/**
 * Headers for the upstream request. `original` is the client's header set (read for Connection
 * before anything else, so a client cannot name the Authorization that tokenproxy adds).
 */
export function upstreamRequestHeaders (headers: IncomingHttpHeaders, original: IncomingHttpHeaders, token: string): IncomingHttpHeaders {
  stripHopByHop(headers, original.connection)
  for (const name of CLIENT_CREDENTIALS) delete headers[name]
  // Node already answered the client's `Expect: 100-continue`; undici refuses to send an Expect header at all.
  delete headers.expect
  headers.authorization = `Bearer ${token}`
  return headers
}

/** Headers for the client's response: the upstream's, less hop-by-hop fields. */
export function clientResponseHeaders<T extends Record<string, unknown>> (headers: T): T {
  stripHopByHop(headers, headers.connection as string | string[] | undefined)
  return headers
}
