// Refuses requests that would make tokenproxy an open proxy or let a path escape its route.
import { ProxyError } from '../errors.js'

/** Segments that, once decoded (even more than once), would move up or across a path. */
function isDangerousSegment (raw: string): string | undefined {
  let s = raw
  // i counts the decodes done so far: the checks also run on the result of the last one.
  for (let i = 0; ; i++) {
    if (s === '.' || s === '..') return 'a dot segment'
    if (s.includes('/') || s.includes('\\')) return 'an encoded slash or backslash'
    if (s.includes('\0')) return 'a NUL byte'
    if (!s.includes('%')) return undefined
    if (i === 3) return 'too many layers of percent-encoding'
    try {
      s = decodeURIComponent(s)
    } catch {
      return 'invalid percent-encoding'
    }
  }
}

/**
 * Merges repeated slashes in the path (`/registry//start-bp` -> `/registry/start-bp`), as nginx's
 * merge_slashes does: a base URL ending in `/` joined with `/start-bp` is common in legacy apps.
 * Runs before routing (fastify's rewriteUrl), so the route is chosen on the merged path and the
 * upstream gets it; merging creates no dot segment and no encoded slash, so every real escape is
 * still refused by checkRequestTarget. The query and absolute-form targets are left as they are.
 */
export function mergeSlashes (url: string): string {
  if (!url.includes('//') || !url.startsWith('/')) return url
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (!path.includes('//')) return url
  return path.replace(/\/{2,}/g, '/') + (q === -1 ? '' : url.slice(q))
}

/** HTTP/1.1 requires Host (RFC 9112 §3.2); checked here because Node's own refusal is not problem+json. */
export function checkHost (httpVersion: string, host: string | undefined): void {
  if (httpVersion === '1.1' && host === undefined) throw new ProxyError('BAD_REQUEST', 'an HTTP/1.1 request must carry a Host header')
}

/** Throws BAD_REQUEST for a request target that is not a plain origin-form path. */
export function checkRequestTarget (method: string, url: string): void {
  if (method === 'CONNECT') throw new ProxyError('BAD_REQUEST', 'CONNECT is not supported: tokenproxy is not an open proxy')
  if (!url.startsWith('/')) {
    throw new ProxyError('BAD_REQUEST', 'only origin-form request targets (/path) are accepted: tokenproxy is not an open proxy')
  }
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (path.includes('\\')) throw new ProxyError('BAD_REQUEST', 'the path contains a backslash')
  // A fragment is never part of a request target (RFC 9112 §3.2); the router and the URL builder disagree on it.
  if (path.includes('#')) throw new ProxyError('BAD_REQUEST', 'the path contains a fragment (#)')
  if (path.startsWith('//') || path.includes('//')) throw new ProxyError('BAD_REQUEST', 'the path contains an empty segment (//)')
  const segments = path.split('/')
  for (let i = 1; i < segments.length; i++) {
    const why = isDangerousSegment(segments[i]!)
    if (why !== undefined) throw new ProxyError('BAD_REQUEST', `the path contains ${why}, which could leave its route`)
  }
}

/**
 * Only `chunked` is accepted as a transfer coding. Node decodes the chunking of `gzip, chunked` and
 * would hand on the gzip bytes with the coding dropped: the upstream would take them for the body.
 */
export function checkTransferEncoding (value: string | undefined): void {
  if (value === undefined || value.trim().toLowerCase() === 'chunked') return
  throw new ProxyError('BAD_REQUEST',
    `Transfer-Encoding ${JSON.stringify(value.slice(0, 64))} is not supported: only chunked; ` +
      'send a compressed body with Content-Encoding instead')
}
