// Process-wide registry of the strings no sidecar output may contain: every issued token, every configured secret.
import { appendFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import type { Config } from '../../src/configuration.js'
import { Secret } from '../../src/config/secrets.js'

/** One string to look for, and what it is (never printed with the value). */
export interface Sensitive { kind: string, value: string }

/** Shorter strings would hit by chance. */
export const MIN_SENSITIVE_LENGTH = 6

/**
 * Values that equal words tokenproxy's own output uses whatever the config (REGARDS' default
 * client secret is literally `secret`; `[secret]` is how a Secret prints itself).
 */
const VOCABULARY = new Set(['secret', 'password', 'client', 'Bearer', 'bearer'])

const tokenLists: Array<{ kind: string, list: readonly string[] }> = []
const secretsSeen = new Map<Secret, { kind: string, values: Set<string>, id?: string }>()
/** The configs' keys and plain values (names, ids, URLs): tokenproxy may print these, so a secret inside one is no finding. */
const publicStrings = new Set<string>()

/** Registers a peer's `issued` list by reference: tokens issued later are looked for too. */
export function registerIssued (kind: string, list: readonly string[]): void {
  tokenLists.push({ kind, list })
}

/** A fresh array of tokens, registered under `kind`, for a peer to push what it issues into. */
export function issuedList (kind: string): string[] {
  const list: string[] = []
  registerIssued(kind, list)
  return list
}

const scripted = issuedList('scripted token')

/** Registers every token-looking member (access_token, refresh_token, id_token, token) of an answer body. */
export function registerTokensIn (body: unknown, depth = 0): void {
  if (body === null || typeof body !== 'object' || depth > 4) return
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === 'string' && /^(access_token|refresh_token|id_token|token)$/.test(k)) scripted.push(v)
    else registerTokensIn(v, depth + 1)
  }
}

/** Registers the tokens in a JSON answer a hand-written peer sends through `res` (first 64 KiB, read when it finishes). */
export function registerTokensSentBy (res: ServerResponse): void {
  const chunks: Buffer[] = []
  let size = 0
  const target = res as unknown as Record<'write' | 'end', (...args: unknown[]) => unknown>
  for (const name of ['write', 'end'] as const) {
    const original = target[name]
    target[name] = function (this: ServerResponse, ...args: unknown[]) {
      const chunk = args[0]
      if ((typeof chunk === 'string' || chunk instanceof Uint8Array) && size < 64 * 1024) {
        const buf = Buffer.from(chunk)
        chunks.push(buf)
        size += buf.length
      }
      return original.apply(this, args)
    }
  }
  res.once('finish', () => {
    try { registerTokensIn(JSON.parse(Buffer.concat(chunks).toString('utf8'))) } catch { /* not JSON: no token to register */ }
  })
}

/**
 * Registers every Secret in a parsed config, keeping the Secret itself so a rotated value
 * (secret-watch) is looked for as well as the one seen now.
 */
export function registerConfigSecrets (config: Config): void {
  const walk = (node: unknown, path: string, parent: Record<string, unknown> | undefined): void => {
    if (node instanceof Secret) {
      const seen = secretsSeen.get(node) ?? { kind: `secret ${path}`, values: new Set<string>() }
      const id = parent?.clientId ?? parent?.id
      if (typeof id === 'string') seen.id = id
      seen.values.add(node.reveal())
      secretsSeen.set(node, seen)
      return
    }
    if (typeof node === 'string') publicStrings.add(node)
    if (node === null || typeof node !== 'object') return
    for (const [k, v] of Object.entries(node)) {
      publicStrings.add(k)
      walk(v, path === '' ? k : `${path}.${k}`, node as Record<string, unknown>)
    }
  }
  walk(config, '', undefined)
}

/** application/x-www-form-urlencoded form of one value (what a token request body carries). */
const formEncode = (s: string): string => new URLSearchParams({ v: s }).toString().slice(2)
const b64 = (s: string): string => Buffer.from(s).toString('base64')

/** A token, and its JWT signature alone (a truncated token in a log is still a leak). */
function tokenForms (kind: string, token: string): Sensitive[] {
  const out = [{ kind, value: token }]
  const parts = token.split('.')
  if (parts.length === 3 && parts[2]!.length >= 16) out.push({ kind: `${kind} (JWT signature)`, value: parts[2]! })
  return out
}

/**
 * A secret as configured, form-encoded, percent-encoded, in both HTTP Basic encodings, and each long line of a multi-line one
 * (a PEM key).
 */
function secretForms (kind: string, value: string, id: string | undefined): Sensitive[] {
  const out = [{ kind, value }, { kind: `${kind} (form-encoded)`, value: formEncode(value) },
    { kind: `${kind} (percent-encoded)`, value: encodeURIComponent(value) }]
  if (id !== undefined) {
    out.push({ kind: `${kind} (Basic, form-encoded)`, value: b64(`${formEncode(id)}:${formEncode(value)}`) })
    out.push({ kind: `${kind} (Basic, plain)`, value: b64(`${id}:${value}`) })
  }
  for (const line of value.split(/\r?\n/)) if (line.length >= 32 && line !== value) out.push({ kind: `${kind} (line)`, value: line })
  return out
}

/**
 * Every registered string worth looking for, deduplicated, long enough, not tokenproxy's own
 * vocabulary, and no secret that a plain config value also holds (a credential named like its secret).
 */
export function sensitiveStrings (): Sensitive[] {
  const all: Sensitive[] = []
  for (const { kind, list } of tokenLists) for (const token of list) all.push(...tokenForms(kind, token))
  for (const [secret, seen] of secretsSeen) {
    seen.values.add(secret.reveal())
    for (const value of seen.values) {
      if (![...publicStrings].some((p) => p.includes(value))) all.push(...secretForms(seen.kind, value, seen.id))
    }
  }
  const byValue = new Map<string, Sensitive>()
  for (const s of all) {
    if (s.value.length < MIN_SENSITIVE_LENGTH || VOCABULARY.has(s.value) || byValue.has(s.value)) continue
    byValue.set(s.value, s)
  }
  return [...byValue.values()]
}

/** What the scans of this process have looked at, per source, and what they found. */
export interface LeakStats {
  sidecars: number
  logBytes: number
  errorBodies: number
  errorBodyBytes: number
  metricsScrapes: number
  readyzScrapes: number
  /** The most sensitive strings any one scan looked for. */
  sensitiveStrings: number
  /** Pre-end scans, and the sensitive strings they looked for in all. */
  scans: number
  sensitiveLookups: number
  hits: number
}

const stats: LeakStats = {
  sidecars: 0,
  logBytes: 0,
  errorBodies: 0,
  errorBodyBytes: 0,
  metricsScrapes: 0,
  readyzScrapes: 0,
  sensitiveStrings: 0,
  scans: 0,
  sensitiveLookups: 0,
  hits: 0,
}

export function leakStats (): LeakStats {
  return { ...stats }
}

/** Adds one scan's figures to the process tally. */
export function tally (add: Partial<LeakStats>): void {
  for (const [k, v] of Object.entries(add) as Array<[keyof LeakStats, number]>) {
    stats[k] = k === 'sensitiveStrings' ? Math.max(stats[k], v) : stats[k] + v
  }
}

// LEAK_STATS_FILE=path: each test process appends its tally as one JSON line (suite-wide figures).
process.once('exit', () => {
  const file = process.env.LEAK_STATS_FILE
  if (file !== undefined && file !== '' && stats.sidecars > 0) {
    appendFileSync(file, `${JSON.stringify({ file: process.argv[1], ...stats })}\n`)
  }
})
