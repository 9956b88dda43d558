// Open-loop HTTP/1.1 load client on node:net (like wrk2): fixed rate, latency from each request's scheduled send time; runs forked.
//
// Each of the N keep-alive connections sends rate/N req/s on its own evenly spaced schedule, the connections' phases staggered so
// that the whole client sends one request every 1000/rate ms. A ~1 ms timer sends whatever is due; a request that falls due while
// its connection still waits for a response is queued, and its latency still counts from its scheduled time (so a server that
// falls behind shows its queueing instead of slowing the client down: no coordinated omission). No pipelining: one request on the
// wire per connection. A connection the server closes (or resets) is reopened on the next tick. A request goes out up to about a
// tick after its scheduled time, the same for every target: that floor (~0.5 ms at p50) cancels in "p99 added over direct".
//
// The bench runs it in its own process (startOpenLoopClient forks this file) so that its CPU does not compete with the bench
// process's /proc polling and IPC; runOpenLoop is the same client in-process, for the tests.
import { type ChildProcess } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { forkPeer, stop } from './processes.js'
import { isMain } from './scenarios.js'

export interface OpenLoopSpec {
  /** http://127.0.0.1:PORT/path */
  url: string
  method?: string
  headers?: Record<string, string>
  body?: string
  /** Requests per second over all connections. */
  rate: number
  connections: number
  /** Length of the measured window; requests scheduled before it (the warm-up) are sent but not recorded. */
  seconds: number
  warmupSeconds?: number
  /** A request without a complete response after this long is an error (its connection is closed). */
  timeoutMs?: number
  /** After the window, how long requests already scheduled may still be sent and answered. */
  drainMs?: number
}

export interface OpenLoopResult {
  /** Complete responses (any status) that arrived during the window, whenever their request was scheduled. */
  requests: number
  seconds: number
  /** Achieved rate: `requests` ÷ `seconds` (a server that falls behind answers fewer than the offered rate in the window). */
  rps: number
  /** Requests scheduled in the window that got a complete response (any status), in the window or in the drain after it. */
  answered: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  p999Ms: number
  maxMs: number
  non2xx: number
  /** Requests that failed (reset, closed mid-response, timed out, unparsable) plus failed connection attempts, in the window. */
  errors: number
  /** Requests scheduled in the window. */
  scheduled: number
  /**
   * Requests scheduled in the window but still queued (never sent) or unanswered when the drain ended: the server fell behind.
   * Their wait until then is in the percentiles as a lower bound; they are not errors.
   */
  unfinished: number
}

export interface WindowHooks {
  onWindowStart?: () => void
  onWindowEnd?: () => void
}

/** Nearest-rank percentile of an ascending array (q in 0..1): the smallest value with at least q of the values at or below it. */
export function percentile (sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1]!
}

type ParseState = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close'
const EMPTY = Buffer.alloc(0)
const MAX_HEAD = 64 * 1024

class Conn {
  socket: Socket | undefined
  connected = false
  /** Scheduled times (ms, performance.now) of requests due but not sent yet. */
  queue: number[] = []
  head = 0
  next: number
  inflight: number | undefined
  sentAt = 0
  retryAt = 0
  state: ParseState = 'head'
  pending: Buffer = EMPTY
  remaining = 0
  status = 0
  keepAlive = true
  /** The response was complete and the connection is to be closed (Connection: close): its close is not an error. */
  closing = false

  constructor (first: number) { this.next = first }
  get queued (): number { return this.queue.length - this.head }
  shift (): number {
    const t = this.queue[this.head++]!
    if (this.head > 1024 && this.head * 2 > this.queue.length) { this.queue = this.queue.slice(this.head); this.head = 0 }
    return t
  }
}

/** Runs the open-loop client in this process. */
export async function runOpenLoop (spec: OpenLoopSpec, hooks: WindowHooks = {}): Promise<OpenLoopResult> {
  const url = new URL(spec.url)
  if (url.protocol !== 'http:') throw new Error(`open-loop client: only http:// URLs (${spec.url})`)
  const host = url.hostname
  const port = Number(url.port || 80)
  const body = spec.body === undefined ? undefined : Buffer.from(spec.body)
  const headerLines = Object.entries(spec.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  const request = Buffer.concat([
    Buffer.from(`${spec.method ?? 'GET'} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n${headerLines}` +
      `${body === undefined ? '' : `Content-Length: ${body.length}\r\n`}\r\n`, 'latin1'),
    body ?? EMPTY,
  ])
  const timeoutMs = spec.timeoutMs ?? 10_000
  const drainMs = spec.drainMs ?? 2000
  const interval = (1000 * spec.connections) / spec.rate
  const t0 = performance.now() + 5
  const windowStart = t0 + (spec.warmupSeconds ?? 0) * 1000
  const windowEnd = windowStart + spec.seconds * 1000
  const inWindow = (scheduled: number): boolean => scheduled >= windowStart && scheduled < windowEnd

  const latencies: number[] = []
  const counts = { requests: 0, answered: 0, non2xx: 0, errors: 0, scheduled: 0, unfinished: 0 }
  let windowStarted = false
  let ended = false
  let finished = false
  const conns = Array.from({ length: spec.connections }, (_, i) => new Conn(t0 + (i * 1000) / spec.rate))

  const complete = (c: Conn, now: number): void => {
    const scheduled = c.inflight!
    c.inflight = undefined
    c.state = 'head'
    if (now >= windowStart && now < windowEnd) counts.requests++
    if (inWindow(scheduled)) {
      counts.answered++
      latencies.push(now - scheduled)
      if (c.status < 200 || c.status > 299) counts.non2xx++
    }
    if (!c.keepAlive) {
      c.closing = true
      c.socket?.destroy()
    }
  }

  const fail = (c: Conn, now: number): void => {
    if (c.inflight !== undefined && inWindow(c.inflight)) {
      counts.errors++
      latencies.push(now - c.inflight)
    }
    c.inflight = undefined
  }

  const send = (c: Conn, now: number): void => {
    if (c.socket === undefined || !c.connected || c.closing || c.inflight !== undefined || c.queued === 0) return
    if (ended && now > windowEnd + drainMs) return
    c.inflight = c.shift()
    c.sentAt = now
    c.state = 'head'
    c.pending = EMPTY
    c.socket.write(request)
  }

  /** Returns false on a protocol error. */
  const parseHead = (c: Conn, head: string): boolean => {
    const lines = head.split('\r\n')
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '')
    if (m === null) return false
    c.status = Number(m[2])
    let length: number | undefined
    let chunked = false
    let close = m[1] === '0'
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!
      const colon = line.indexOf(':')
      if (colon <= 0) return false
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim().toLowerCase()
      if (name === 'content-length') length = Number(value)
      else if (name === 'transfer-encoding') chunked = value.split(',').some((v) => v.trim() === 'chunked')
      else if (name === 'connection') {
        if (value.includes('close')) close = true
        else if (value.includes('keep-alive')) close = false
      }
    }
    c.keepAlive = !close
    if (c.status >= 100 && c.status < 200) { c.state = 'head'; return true } // interim response: the real one follows
    if (chunked) c.state = 'chunk-size'
    else if (length !== undefined) {
      if (!Number.isInteger(length) || length < 0) return false
      c.remaining = length
      c.state = 'body'
    } else if (c.status === 204 || c.status === 304) {
      c.remaining = 0
      c.state = 'body'
    } else {
      c.state = 'until-close'
      c.keepAlive = false
    }
    return true
  }

  /**
   * The bytes buffered on `c` plus `data`, split at the first `delim`: what came before it and what
   * follows; 'wait' (kept on `c`) while it has not arrived, 'too long' past MAX_HEAD.
   */
  const upTo = (c: Conn, data: Buffer, delim: string): { line: Buffer, rest: Buffer } | 'wait' | 'too long' => {
    const buf = c.pending.length === 0 ? data : Buffer.concat([c.pending, data])
    const end = buf.indexOf(delim)
    if (end < 0) {
      if (buf.length > MAX_HEAD) return 'too long'
      c.pending = buf
      return 'wait'
    }
    c.pending = EMPTY
    return { line: buf.subarray(0, end), rest: buf.subarray(end + delim.length) }
  }

  /** Feeds response bytes to the connection's parser; returns false on a protocol error. */
  const feed = (c: Conn, chunk: Buffer, now: number): boolean => {
    let data = chunk
    for (;;) {
      if (c.inflight === undefined) return data.length === 0 // bytes nobody asked for
      switch (c.state) {
        case 'head': {
          const got = upTo(c, data, '\r\n\r\n')
          if (got === 'wait') return true
          if (got === 'too long') return false
          if (!parseHead(c, got.line.toString('latin1'))) return false
          data = got.rest
          if ((c.state as ParseState) === 'body' && c.remaining === 0) complete(c, now)
          break
        }
        case 'body':
        case 'chunk-data':
        case 'chunk-crlf': {
          const take = Math.min(c.remaining, data.length)
          c.remaining -= take
          data = data.subarray(take)
          if (c.remaining > 0) return true
          if (c.state === 'body') complete(c, now)
          else if (c.state === 'chunk-data') { c.state = 'chunk-crlf'; c.remaining = 2 } else c.state = 'chunk-size'
          break
        }
        case 'chunk-size':
        case 'trailers': {
          const got = upTo(c, data, '\r\n')
          if (got === 'wait') return true
          if (got === 'too long') return false
          data = got.rest
          if (c.state === 'trailers') {
            if (got.line.length === 0) complete(c, now) // the empty line after the last chunk (and any trailers)
            break
          }
          const size = Number.parseInt(got.line.toString('latin1').split(';')[0]!.trim(), 16)
          if (!Number.isFinite(size) || size < 0) return false
          if (size === 0) c.state = 'trailers'
          else { c.state = 'chunk-data'; c.remaining = size }
          break
        }
        case 'until-close':
          return true // the body ends when the server closes
      }
    }
  }

  const open = (c: Conn): void => {
    const socket = connect({ host, port, noDelay: true })
    c.socket = socket
    c.connected = false
    c.closing = false
    socket.on('connect', () => {
      c.connected = true
      send(c, performance.now())
    })
    socket.on('data', (chunk: Buffer) => {
      const now = performance.now()
      if (!feed(c, chunk, now)) { socket.destroy(); return }
      send(c, now)
    })
    socket.on('error', () => { /* the close that follows counts it */ })
    socket.on('close', () => {
      const now = performance.now()
      if (c.inflight !== undefined && c.state === 'until-close') complete(c, now)
      else if (c.inflight !== undefined) fail(c, now)
      else if (!c.connected && !finished && now >= windowStart && now < windowEnd) counts.errors++ // the connection attempt failed
      const clean = c.closing
      c.socket = undefined
      c.connected = false
      c.closing = false
      c.state = 'head'
      c.pending = EMPTY
      // Reopen at once after a Connection: close, after 10 ms after an error (no busy loop against a refusing port).
      c.retryAt = clean ? 0 : now + 10
    })
  }

  return await new Promise<OpenLoopResult>((resolve) => {
    const finish = (now: number): void => {
      finished = true
      clearInterval(timer)
      for (const c of conns) {
        if (c.inflight !== undefined) c.queue.splice(c.head, 0, c.inflight)
        c.inflight = undefined
        while (c.queued > 0) {
          const scheduled = c.shift()
          if (inWindow(scheduled)) { counts.unfinished++; latencies.push(now - scheduled) }
        }
        c.socket?.destroy()
      }
      const sorted = Float64Array.from(latencies).sort()
      resolve({
        requests: counts.requests,
        seconds: spec.seconds,
        rps: counts.requests / spec.seconds,
        answered: counts.answered,
        p50Ms: percentile(sorted, 0.5),
        p90Ms: percentile(sorted, 0.9),
        p99Ms: percentile(sorted, 0.99),
        p999Ms: percentile(sorted, 0.999),
        maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
        non2xx: counts.non2xx,
        errors: counts.errors,
        scheduled: counts.scheduled,
        unfinished: counts.unfinished,
      })
    }
    const tick = (): void => {
      if (finished) return
      const now = performance.now()
      if (!windowStarted && now >= windowStart) { windowStarted = true; hooks.onWindowStart?.() }
      if (!ended && now >= windowEnd) { ended = true; hooks.onWindowEnd?.() }
      let busy = false
      for (const c of conns) {
        while (c.next <= now && c.next < windowEnd) {
          if (inWindow(c.next)) counts.scheduled++
          c.queue.push(c.next)
          c.next += interval
        }
        if (c.socket === undefined) {
          if (now >= c.retryAt && !(ended && c.queued === 0)) open(c)
        } else if (c.inflight !== undefined && now - c.sentAt > timeoutMs) c.socket.destroy() // counted as an error on close
        send(c, now)
        if (c.inflight !== undefined || c.queued > 0) busy = true
      }
      if (ended && (!busy || now > windowEnd + drainMs)) finish(now)
    }
    for (const c of conns) open(c)
    const timer = setInterval(tick, 1)
  })
}

export interface OpenLoopClient {
  child: ChildProcess
  run (spec: OpenLoopSpec, hooks?: WindowHooks): Promise<OpenLoopResult>
  close (): Promise<void>
}

type ClientMessage = { window: 'start' | 'end' } | { result: OpenLoopResult } | { error: string }

/** Forks this file as the bench's load client; one run at a time. */
export async function startOpenLoopClient (): Promise<OpenLoopClient> {
  const { child } = await forkPeer<{ ready: true }>(new URL(import.meta.url))
  return {
    child,
    async run (spec, hooks = {}) {
      return await new Promise<OpenLoopResult>((resolve, reject) => {
        const onExit = (code: number | null): void => reject(new Error(`the open-loop client exited with ${String(code)}`))
        const onMessage = (m: ClientMessage): void => {
          if ('window' in m) {
            if (m.window === 'start') hooks.onWindowStart?.()
            else hooks.onWindowEnd?.()
            return
          }
          child.off('message', onMessage)
          child.off('exit', onExit)
          if ('result' in m) resolve(m.result)
          else reject(new Error(`open-loop client: ${m.error}`))
        }
        child.on('message', onMessage)
        child.once('exit', onExit)
        child.send({ run: spec })
      })
    },
    async close () { await stop(child) },
  }
}

if (isMain(import.meta.url) && process.send !== undefined) {
  const reply = (m: ClientMessage): void => { process.send!(m) }
  process.on('message', (m: { run: OpenLoopSpec }) => {
    runOpenLoop(m.run, { onWindowStart: () => reply({ window: 'start' }), onWindowEnd: () => reply({ window: 'end' }) })
      .then((result) => reply({ result }), (err: unknown) => reply({ error: String(err) }))
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ ready: true })
}
