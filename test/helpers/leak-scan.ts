// Scans a test sidecar's logs, error responses, /metrics and /readyz for every registered token and secret.
import { createHash } from 'node:crypto'
import type { Test } from 'tap'
import type { Sidecar } from '../../src/server.js'
import type { ErrorBody } from './leak-capture.js'
import { sensitiveStrings, tally, type Sensitive } from './leak-registry.js'

/** One text a sidecar produced, named by where it came from. */
export interface ScanSource { source: string, text: string }

/** A sensitive string found in a source: its kind and fingerprint only, never the value. */
export interface LeakHit { source: string, kind: string, fingerprint: string, offset: number }

/** What a scan needs of a started sidecar (the fields `startSidecar` returns). */
export interface Scannable {
  sidecar: Sidecar
  admin: string
  logs: { text: string }
  errorBodies: ErrorBody[]
}

/** First 8 hex of SHA-256, like tokenproxy's own log fingerprints. */
export const fingerprint = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8)

/** Every occurrence (first per source and string) of each sensitive string in each source. */
export function scanTexts (sources: ScanSource[], sensitive: Sensitive[] = sensitiveStrings()): LeakHit[] {
  const hits: LeakHit[] = []
  for (const { source, text } of sources) {
    for (const s of sensitive) {
      const offset = text.indexOf(s.value)
      if (offset !== -1) hits.push({ source, kind: s.kind, fingerprint: fingerprint(s.value), offset })
    }
  }
  return hits
}

export function describeHits (hits: LeakHit[]): string {
  return hits.map((h) => `${h.kind} [sha256:${h.fingerprint}] in ${h.source} at offset ${h.offset}`).join('; ')
}

function errorSources (bodies: ErrorBody[]): ScanSource[] {
  return bodies.map((b) => ({
    source: `error response ${b.status} to ${b.method} ${b.url.slice(0, 80)} on ${b.listener}`,
    text: `${b.head}${b.text}`,
  }))
}

/** GETs an admin path of a sidecar whose admin listener is still open; undefined otherwise. */
async function adminText (running: Scannable, path: string): Promise<string | undefined> {
  const admin = running.sidecar.listeners.find((l) => l.name === 'admin')
  if (running.admin === '' || admin?.server.listening !== true) return undefined
  try {
    const res = await fetch(`${running.admin}${path}`, { signal: AbortSignal.timeout(3000) })
    return `${res.status} ${JSON.stringify(Object.fromEntries(res.headers))}\n${await res.text()}`
  } catch {
    return undefined
  }
}

export interface ScanResult {
  hits: LeakHit[]
  sources: ScanSource[]
  sensitive: number
}

/** Scans everything a running sidecar has produced so far, scraping /metrics and /readyz if its admin listener is up. */
export async function scanSidecar (running: Scannable): Promise<ScanResult> {
  const sources: ScanSource[] = [{ source: 'logs', text: running.logs.text }, ...errorSources(running.errorBodies)]
  for (const path of ['/metrics', '/readyz']) {
    const text = await adminText(running, path)
    if (text !== undefined) sources.push({ source: `admin ${path}`, text })
  }
  const sensitive = sensitiveStrings()
  return { hits: scanTexts(sources, sensitive), sources, sensitive: sensitive.length }
}

/**
 * Fails `t` on a leak: a full scan just before the test ends (the sidecar still up), and one of
 * what was written after, once the sidecar has closed. Returns the after-close step for the teardown.
 */
export function guardAgainstLeaks (t: Test, running: Scannable): () => void {
  let logsSeen = 0
  let bodiesSeen = 0
  let scrapes = { metrics: 0, readyz: 0 }
  const previous = t.onbeforeend
  t.onbeforeend = async () => {
    const { hits, sources, sensitive } = await scanSidecar(running)
    logsSeen = running.logs.text.length
    bodiesSeen = running.errorBodies.length
    scrapes = {
      metrics: sources.some((s) => s.source === 'admin /metrics') ? 1 : 0,
      readyz: sources.some((s) => s.source === 'admin /readyz') ? 1 : 0,
    }
    tally({ sensitiveStrings: sensitive, scans: 1, sensitiveLookups: sensitive, hits: hits.length })
    if (hits.length > 0) t.fail(`leak scan: ${hits.length} sensitive string(s) in sidecar output: ${describeHits(hits)}`)
    await previous.call(t)
  }
  return () => {
    const late = [{ source: 'logs (after close)', text: running.logs.text.slice(logsSeen) },
      ...errorSources(running.errorBodies.slice(bodiesSeen))]
    const hits = scanTexts(late)
    tally({
      sidecars: 1,
      logBytes: Buffer.byteLength(running.logs.text),
      errorBodies: running.errorBodies.length,
      errorBodyBytes: running.errorBodies.reduce((n, b) => n + Buffer.byteLength(b.head) + Buffer.byteLength(b.text), 0),
      metricsScrapes: scrapes.metrics,
      readyzScrapes: scrapes.readyz,
      hits: hits.length,
    })
    if (hits.length > 0) {
      // The test has ended: an assertion would come too late, so the process fails instead.
      process.exitCode = 1
      console.error(`leak scan (${t.fullname}): ${describeHits(hits)}`)
    }
  }
}
