// Seeded generator of hostile HTTP/1.1 requests (paths, targets, methods, headers, framing) as raw bytes, for the fuzz test.

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same run. */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type RouteName = 'A' | 'B' | 'C'

/** Where the sidecar may forward a case, and the path the upstream must then see. */
export interface Forward { route: RouteName, path: string }

export interface FuzzCase {
  id: string
  kind: string
  listener: 'shared' | 'dedicated'
  /** The method token as sent (HEAD answers carry no body). */
  method: string
  bytes: Buffer
  /** Send FIN after the bytes: the body is deliberately incomplete and nothing more will come. */
  halfClose: boolean
  /** Undefined when no correct sidecar could forward it (no route). */
  forward: Forward | undefined
}

export interface FuzzEnv {
  /** host:port of the shared and the dedicated listener, and of upstream A (for absolute-form targets). */
  sharedHost: string
  dedicatedHost: string
  upstreamHost: string
}

type Rng = () => number
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1))
const chance = (r: Rng, p: number): boolean => r() < p

/** Randomly flips the case of hex digits in %XX escapes (%2e -> %2E). */
function mixCase (r: Rng, s: string): string {
  return s.replace(/%[0-9a-fA-F]{2}/g, (m) => (chance(r, 0.5) ? m.toUpperCase() : m.toLowerCase()))
}

const DOT_FORMS = ['.', '.', '%2e', '%2E', '%252e', '%25252e', '%2525252e', '%c0%ae', '%e0%80%ae', '%u002e', '%%32%65']
const SLASH_FORMS = ['%2f', '%2F', '%5c', '%5C', '\\', '%252f', '%25252f', '%255c', '%c0%af', '%e0%80%af', '%c1%9c', '%c0%5c']
const NORMAL = ['a', 'x', 'v1', 'items', 'file.txt', 'a..b', '.well-known', '[...slug]', 'a%20b', 'caf%C3%A9', '~user', 'a;b=1', ':c', '@x',
  'a.b.c', 'index.html', '-', '_', '%41', '0']
const JUNK = ['%', '%zz', '%2', '%%', '%u0041', '\x00', '"<>`{}|^', '!$&\'()*+,;=', '\x7f', '\xe9', '\xc0\xae', '?', '#', '\t', ' ']

function dotSegment (r: Rng): string {
  const n = chance(r, 0.75) ? 2 : pick(r, [1, 3])
  let s = ''
  for (let i = 0; i < n; i++) s += pick(r, DOT_FORMS)
  if (chance(r, 0.1)) s += pick(r, [';', '%00', '%20', '%09', '::$DATA'])
  return s
}

function slashSegment (r: Rng): string {
  const sl = pick(r, SLASH_FORMS)
  return pick(r, [`a${sl}b`, `..${sl}..`, `${sl}..`, `..${sl}`, `${sl}etc${sl}passwd`, sl, `%2e%2e${sl}x`])
}

function segment (r: Rng): string {
  const x = r()
  let s: string
  if (x < 0.4) s = pick(r, NORMAL)
  else if (x < 0.6) s = dotSegment(r)
  else if (x < 0.75) s = slashSegment(r)
  else if (x < 0.8) s = pick(r, ['%00', 'a%00b', '%2500', '..%00', '%00..', '%252500'])
  else if (x < 0.85) s = pick(r, ['%c0%ae%c0%ae', '%e0%80%ae%e0%80%ae', '%c0%af', '%f0%80%80%af', '%c0', '%ff%fe'])
  else if (x < 0.95) s = pick(r, JUNK) + (chance(r, 0.5) ? pick(r, NORMAL) : '')
  else s = ''
  return mixCase(r, s)
}

function restPath (r: Rng): string {
  const n = int(r, 0, 6)
  let out = ''
  for (let i = 0; i < n; i++) out += pick(r, ['/', '/', '/', '/', '//', '\\', '/./', '/../', '/%2e/']) + segment(r)
  if (chance(r, 0.3)) {
    out += '?' + mixCase(r, pick(r, [
      'a=../..', 'x=%2f%2e%2e%2f', 'q=%00', 'p=\\..\\', '..', '/../../etc/passwd', '%zz', '&&&', '=', '?', 'a=1&a=2',
      'url=http://evil.example/', 'a=%u0041', 'x=' + 'y'.repeat(int(r, 1, 2000)),
    ]))
  }
  if (chance(r, 0.04)) out += '#' + pick(r, ['frag', '/../x', ''])
  return out
}

const SHARED_PREFIXES = ['/registry', '/registry', '/registry', '/registry', '/regards', '/regards', '/regards', '', '/registr',
  '/registryx', '/REGISTRY', '/%72egistry', '/re%67ards', '/regards%2f', '//registry', '/./registry', '/registry;x', '/nowhere',
  '/%2e%2e/registry', '/registry%00']

/** Percent-decodes single ASCII bytes only (what a router does to match a prefix); undefined on a bad escape. */
function decodeAsciiEscapes (s: string): string | undefined {
  try {
    return s.replace(/%[0-7][0-9a-fA-F]/g, (m) => decodeURIComponent(m))
  } catch {
    return undefined
  }
}

/** The route a correct sidecar would use for `target` on `listener`, and the path the upstream must get. */
export function forwardOf (listener: 'shared' | 'dedicated', target: string): Forward | undefined {
  if (!target.startsWith('/')) return undefined
  const noFrag = target.split('#', 1)[0]!
  // Repeated slashes are merged before routing (nginx's merge_slashes).
  const path = noFrag.split('?', 1)[0]!.replace(/\/{2,}/g, '/')
  const expect = (route: RouteName, base: string, rest: string): Forward => ({
    route,
    path: new URL(`http://h${`${base}${rest}` || '/'}`).pathname,
  })
  if (listener === 'dedicated') return expect('C', '/ded', path)
  for (const [prefix, route, base] of [['/registry', 'A', '/base'], ['/regards', 'B', '']] as const) {
    for (let i = prefix.length; i <= Math.min(path.length, prefix.length * 3); i++) {
      if (decodeAsciiEscapes(path.slice(0, i)) !== prefix) continue
      const rest = path.slice(i)
      if (rest === '' || rest.startsWith('/')) return expect(route, base, rest)
    }
  }
  return undefined
}

function specialTarget (r: Rng, env: FuzzEnv): string {
  return pick(r, [
    '*', `http://${env.upstreamHost}/x`, `http://${env.sharedHost}/registry/x`, `http://${env.dedicatedHost}/x`,
    'https://evil.example/registry/x', 'HTTP://EVIL.EXAMPLE/', '//evil.example/registry/x', 'evil.example:443', `${env.upstreamHost}`,
    'registry/x', '\\registry\\x', '/\\evil.example/x', '', 'http:/registry/x', 'http://127.0.0.1@evil.example/registry/x',
    `http://evil.example@${env.upstreamHost}/x`,
  ])
}

const METHODS = ['GET', 'GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'MKCOL',
  'PURGE', 'QUERY', 'SEARCH', 'get', 'Get', 'post', 'FOO', 'G3T', 'M-SEARCH', 'GET\t', '']
const VERSIONS = ['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 junk', '', 'HTTP/1.10', 'HTTP/11']

/** One header "game": lines to add, and whether it sets Host / Connection itself. */
interface HeaderGame { lines: string[], host?: boolean, connection?: boolean }

function headerGame (r: Rng): HeaderGame {
  switch (int(r, 0, 6)) {
    case 0: return {
      lines: pick(r, [
        ['Authorization: Bearer client-evil'], ['Authorization: Basic Zm9vOmJhcg=='],
        ['Authorization: Bearer a', 'Authorization: Bearer b'], ['authorization:'], ['AUTHORIZATION: x'],
        ['Proxy-Authorization: Basic Zm9vOmJhcg=='], ['waltid-authorization: Bearer w'],
        ['WaltID-Authorization: x', 'Proxy-Authorization: y'], ['Authorization: Bearer a, Bearer b'], ['Authorization : x'],
        ['Authorization\t: x'], ['X-Authorization: x'], ['Authorization: Bearer x', ' continued'],
        ['Proxy-Authorization: x', '\tfolded: y'], ['Authorization: Bearer \x00x'],
      ]),
    }
    case 1: return {
      connection: true,
      lines: pick(r, [
        ['Connection: authorization'], ['Connection: close, authorization, proxy-authorization'], ['Connection: keep-alive'],
        ['Connection: upgrade', 'Upgrade: websocket'], ['Connection: te', 'TE: trailers'], ['Connection: host'],
        ['Connection: content-length'], ['Connection: transfer-encoding'], ['Connection: x-a', 'X-A: 1'],
        ['Connection: close', 'Keep-Alive: timeout=1'],
        ['Connection: close', 'Proxy-Connection: keep-alive'],
        ['Connection: Authorization, waltid-authorization', 'waltid-authorization: x'], ['Connection: close', 'Connection: authorization'],
        ['Connection: ,,,'], ['Connection: upgrade', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA'],
      ]),
    }
    case 2: return {
      host: true,
      lines: pick(r, [
        [], ['Host: a', 'Host: b'], ['Host: evil.example'], ['Host: 127.0.0.1:1'], ['Host:'], ['Host: a b'], ['Host: evil\x00.example'],
        ['Host: [::1]'], ['Host: evil.example', 'X-Forwarded-Host: evil.example'],
      ]),
    }
    case 3: return {
      lines: pick(r, [
        ['X-A: a\rb'], ['X-A: a\nb'], ['X-A: a\x00b'], ['X\x00A: 1'], ['X-A\r: 1'], ['JustText'], [' leading-space: 1'], ['X-A: \x7f'],
        ['X-A: \xe9'], ['X-A: a', '\tb'], [`X-A: ${'v'.repeat(8000)}`], ['X-A\nAuthorization: Bearer evil'],
        ['X-A: a\r\nAuthorization: Bearer evil'], [': empty-name'], ['X-\xe9: 1'],
      ]),
    }
    case 4: {
      const n = pick(r, [50, 200, 1000, 2100, 3000])
      const many = Array.from({ length: n }, (_, i) => (n > 1000 ? `a:${i % 10}` : `x-h${i}: v${i}`))
      return { lines: many.concat(chance(r, 0.5) ? ['Authorization: Bearer after-many'] : []) }
    }
    case 5: return {
      lines: pick(r, [['Expect: 100-continue'], ['Expect: weird'], ['Expect: 100-continue, weird'], ['Expect: 100-CONTINUE']]),
    }
    default: return {
      lines: pick(r, [
        ['TE: trailers'], ['Trailer: x'], ['Max-Forwards: 0'], ['X-Forwarded-For: 1.2.3.4'], ['Forwarded: for=evil;host=evil.example'],
        ['Via: 1.1 x'], ['Content-Type: application/json'], ['Content-Encoding: gzip'], ['Range: bytes=0-1'],
        ['X-HTTP-Method-Override: CONNECT'], ['Cookie: a=b'], ['X-Original-URL: /admin', 'X-Rewrite-URL: /admin'],
      ]),
    }
  }
}

interface Framing { lines: string[], body: string, halfClose: boolean }

function randomBody (r: Rng, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += String.fromCharCode(int(r, 32, 126))
  return s
}

function framing (r: Rng, inner: string): Framing {
  const body = randomBody(r, int(r, 0, 300))
  const len = Buffer.byteLength(body, 'latin1')
  const chunked = (b: string): string => (b === '' ? '' : `${b.length.toString(16)}\r\n${b}\r\n`) + '0\r\n\r\n'
  switch (int(r, 0, 9)) {
    case 0: return { lines: [`Content-Length: ${len}`], body, halfClose: false }
    case 1: return {
      lines: ['Transfer-Encoding: chunked'],
      body: pick(r, [chunked(body), '5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n', 'A\r\n0123456789\r\n0\r\n\r\n']),
      halfClose: false,
    }
    case 2: // CL.TE and TE.CL shapes, a smuggled request behind the body
      return {
        lines: pick(r, [
          ['Content-Length: 4', 'Transfer-Encoding: chunked'], ['Transfer-Encoding: chunked', 'Content-Length: 4'],
          ['Content-Length: 4', 'Transfer-Encoding: chunked', 'Transfer-Encoding: identity'],
        ]),
        body: `0\r\n\r\n${inner}`,
        halfClose: false,
      }
    case 3: return {
      lines: pick(r, [
        [`Content-Length: ${len}`, `Content-Length: ${len + 1}`], [`Content-Length: ${len}`, `Content-Length: ${len}`],
        [`Content-Length: ${len}, ${len}`], [`Content-Length: +${len}`], ['Content-Length: -1'], [`Content-Length: 0x${len.toString(16)}`],
        ['Content-Length: 99999999999999999999'], [`Content-Length:  ${len} `],
      ]),
      body,
      halfClose: false,
    }
    case 4: return {
      lines: pick(r, [
        ['Transfer-Encoding: chunked, chunked'], ['Transfer-Encoding: xchunked'], ['Transfer-Encoding: Chunked'],
        ['Transfer-Encoding:  chunked'], ['Transfer-Encoding: chunked;x'], ['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'],
        ['Transfer-Encoding: chunked', 'Transfer-Encoding: gzip'], ['Transfer-Encoding: identity'], ['Transfer-Encoding\t: chunked'],
        ['Transfer-Encoding: gzip, chunked'],
      ]),
      body: chunked(body),
      halfClose: false,
    }
    case 5: // bad chunks
      return {
        lines: ['Transfer-Encoding: chunked'],
        body: pick(r, [
          'zz\r\nhello\r\n0\r\n\r\n', '-1\r\nx\r\n0\r\n\r\n', '5\r\nhelloXX\r\n0\r\n\r\n', '5\nhello\n0\n\n',
          'ffffffffffffffffff\r\nx\r\n', '5;a=\r\nb\r\nhello\r\n0\r\n\r\n', '5\r\nhello0\r\n\r\n', `0\r\n\r\n${inner}`,
          '3\r\nabc\r\n0\r\nX: \x00\r\n\r\n',
        ]),
        halfClose: false,
      }
    case 6: // incomplete bodies, then FIN
      return pick(r, [
        { lines: ['Content-Length: 100'], body: 'short', halfClose: true },
        { lines: ['Transfer-Encoding: chunked'], body: '5\r\nhel', halfClose: true },
        { lines: ['Transfer-Encoding: chunked'], body: '5\r\nhello\r\n0\r\n', halfClose: true },
      ])
    case 7: // shorter Content-Length than the bytes: the rest is a pipelined request
      return { lines: [`Content-Length: ${Math.min(len, 3)}`], body: `${body.slice(0, 3)}${inner}`, halfClose: false }
    default: return { lines: [], body: '', halfClose: false }
  }
}

interface RequestParts {
  method: string
  target: string
  version: string
  host: string
  lines: string[]
  setsHost: boolean
  setsConnection: boolean
  body: string
}

function compose (parts: RequestParts): Buffer {
  const head = [`${parts.method} ${parts.target}${parts.version === '' ? '' : ` ${parts.version}`}`]
  if (!parts.setsHost) head.push(`Host: ${parts.host}`)
  head.push(...parts.lines)
  if (!parts.setsConnection) head.push('Connection: close')
  // A head near the sidecar's 16 KiB limit may exceed the upstream's once the Bearer is added, and the
  // upstream's bare 431 would come back as is: keep clear of that band by pushing such heads well over.
  const size = head.reduce((n, l) => n + l.length + 2, 2)
  if (size > 11_000 && size <= 24_000) head.push(`X-Pad: ${'p'.repeat(24_000 - size + 100)}`)
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${parts.body}`, 'latin1')
}

/** The i-th case of the run seeded by `seed` (cases are independent: each has its own stream). */
export function generateCase (seed: number, i: number, env: FuzzEnv): FuzzCase {
  const r = mulberry32((seed ^ Math.imul(i + 1, 0x9E3779B1)) >>> 0)
  const id = `f${i}`
  const listener = chance(r, 0.25) ? 'dedicated' : 'shared'
  const host = listener === 'shared' ? env.sharedHost : env.dedicatedHost
  const k = r()
  const kind = k < 0.35
    ? 'path'
    : k < 0.43 ? 'target' : k < 0.5 ? 'method' : k < 0.7 ? 'headers' : k < 0.9 ? 'framing' : k < 0.95 ? 'long' : 'mixed'
  const wild = kind === 'mixed'
  const hostilePath = kind === 'path' || kind === 'method' || wild || chance(r, 0.15)
  let target = (listener === 'shared' ? pick(r, SHARED_PREFIXES) : '') +
    (hostilePath ? restPath(r) : pick(r, ['/x', '/v1/items?id=1', '/a/b.json', '/']))
  if (target === '') target = '/'
  if (kind === 'target' || (wild && chance(r, 0.2))) target = specialTarget(r, env)
  if (kind === 'long') {
    target = (listener === 'shared' ? pick(r, ['/registry', '/regards']) : '') + pick(r,
      [`/${'a/'.repeat(int(r, 100, 9000))}`, `/${'a'.repeat(int(r, 1000, 20_000))}`, `/${'%2e%2e/'.repeat(int(r, 10, 3000))}`,
        `/x?${'q=1&'.repeat(int(r, 100, 5000))}`])
  }
  let method = kind === 'method' || wild ? pick(r, METHODS) : pick(r, ['GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE'])
  if (method === 'CONNECT' && chance(r, 0.5)) target = pick(r, [env.upstreamHost, 'evil.example:443', env.sharedHost])
  const version = (kind === 'method' || wild) && chance(r, 0.4) ? pick(r, VERSIONS) : 'HTTP/1.1'
  const games = kind === 'headers' || wild
    ? Array.from({ length: int(r, 1, 3) }, () => headerGame(r))
    : kind === 'long' && chance(r, 0.3) ? [headerGame(r)] : []
  const innerTarget = listener === 'shared' ? '/smuggled' : '/../smuggled'
  const inner = `GET ${innerTarget} HTTP/1.1\r\nHost: ${host}\r\nx-fuzz-id: s${i}\r\n\r\n`
  let frame = kind === 'framing' || wild ? framing(r, inner) : { lines: [], body: '', halfClose: false }
  // Node 20 does not report a framing error in the body of a request that carries Upgrade (its parser
  // drops errors once the upgrade flag is set), so such a request stays open until the client leaves,
  // like any slow upload. That is Node's behaviour, not the sidecar's: keep those bodies well-formed.
  const upgrades = games.some((g) => g.lines.some((l) => /^upgrade:/i.test(l)))
  if (upgrades && frame.lines.some((l) => /^transfer-encoding/i.test(l)) && !frame.halfClose) {
    frame = { lines: ['Transfer-Encoding: chunked'], body: '5\r\nhello\r\n0\r\n\r\n', halfClose: false }
  }
  if (frame.body !== '' && method === 'GET' && chance(r, 0.5)) method = 'POST'
  const lines = [`x-fuzz-id: ${id}`, ...games.flatMap((g) => g.lines), ...frame.lines]
  return {
    id,
    kind,
    listener,
    method,
    bytes: compose({
      method,
      target,
      version,
      host,
      lines,
      setsHost: games.some((g) => g.host === true),
      setsConnection: games.some((g) => g.connection === true),
      body: frame.body,
    }),
    halfClose: frame.halfClose,
    forward: forwardOf(listener, target),
  }
}
