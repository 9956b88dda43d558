// Where a request goes on its upstream: the route's prefix swapped for the target's base path, normalised as a URL would be.
import { ProxyError } from '../errors.js'

/** How one route maps client paths onto its upstream's. */
export interface Destination {
  /** The route's prefix on the shared listener; '' on a dedicated port. */
  prefix: string
  /** The target's base path in its place ('' for a target at the root). */
  basePath: string
  /** The target's origin: the pool's, and the URL parser's base on the slow path. */
  origin: string
  /** The target's host[:port], the upstream request's Host. */
  host: string
}

export function destinationFor (prefix: string, target: string): Destination {
  const url = new URL(target)
  // A prefix never ends with '/', so neither does its replacement: /up/x -> /base/x, /up -> /base.
  const basePath = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname
  return { prefix, basePath, origin: url.origin, host: url.host }
}

/** Characters a URL parser leaves as they are in a path: no percent-escape, quote, space or non-ASCII to encode. */
const PLAIN_PATH = /^[\w\-.~!$&'()*+,;=:@/]*$/

const refused = (why: string): ProxyError => new ProxyError('BAD_REQUEST', `the request was refused: ${why}`)

/**
 * Length of the client path's part that spells the prefix, once its %-escapes are decoded (the
 * router matched on the decoded path: /u%70/x is on route /up). -1 when it does not spell it.
 */
function encodedPrefixLength (path: string, prefix: string): number {
  let decoded = ''
  for (let i = 0; i < path.length;) {
    let raw = 1
    if (path[i] === '%') {
      // One character may take up to four escaped UTF-8 bytes.
      for (raw = 3; ; raw += 3) {
        try {
          decoded += decodeURI(path.slice(i, i + raw))
          break
        } catch {
          if (raw === 12 || path[i + raw] !== '%') return -1
        }
      }
    } else {
      decoded += path[i]
    }
    i += raw
    if (decoded === prefix) return i
    if (decoded.length >= prefix.length) return -1
  }
  return -1
}

/**
 * The upstream request's path and query for the client's `url` (already past the request guard:
 * no dot segment, encoded slash, backslash or empty segment). A plain path is used as it is; any
 * other goes through the URL parser, as the upstream's own would read it.
 */
export function upstreamPath (d: Destination, url: string): string {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const query = q === -1 ? '' : url.slice(q)
  const skip = path.startsWith(d.prefix) ? d.prefix.length : encodedPrefixLength(path, d.prefix)
  const dest = skip === -1 ? path : `${d.basePath}${path.slice(skip)}`
  if (dest === '') return `/${query}`
  if (PLAIN_PATH.test(dest) && !dest.includes('/.')) return `${dest}${query}`
  return `${normalised(d, dest)}${query}`
}

function normalised (d: Destination, dest: string): string {
  let decoded: string
  try {
    decoded = decodeURIComponent(dest)
  } catch {
    throw refused('the path has an invalid percent-encoding')
  }
  // Stricter than dot segments: any segment that starts with '..' (such names are rare, and refusing them is safe).
  if (decoded.includes('/..') || decoded.includes('../')) throw refused('the path has a segment starting with ".."')
  const url = new URL(dest, d.origin)
  if (url.origin !== d.origin || (url.pathname !== d.basePath && !url.pathname.startsWith(`${d.basePath}/`))) {
    throw refused('the path leaves its route')
  }
  return url.pathname
}
