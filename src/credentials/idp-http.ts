// HTTP to identity services: keep-alive agents (per private CA and timeout) closed with their credentials, a deadline that bounds connect +
// TLS + answer, a cap on what is read.
import { setMaxListeners } from 'node:events'
import { Agent, type Dispatcher } from 'undici'
import { untilAborted } from './deadline.js'
import { formEncode, redactor, type Redact } from './redact.js'
import { TokenRequestError } from './token-error.js'

/** Identity services answer a few KiB; anything past this is not a token response. */
const MAX_ANSWER_BYTES = 1024 * 1024

export interface IdpAnswer {
  status: number
  contentType: string
  text: string
  /** True when the answer was larger than MAX_ANSWER_BYTES and was not read whole. */
  truncated: boolean
  /** Takes the request's secrets out of text from this answer: apply it before storing, logging or showing any. */
  redact: Redact
}

/**
 * undici's own timeouts (connect + TLS handshake, headers, between body chunks) set to the
 * credential's timeout: a backstop behind the deadline each token request runs under. Every
 * socket also ends when `stop` aborts: undici's destroy() leaves one still connecting (or in its
 * TLS handshake) to its connect timeout, which would hold a stopping process for that long.
 */
function agentOptions (timeoutMs: number, stop: AbortSignal, ca?: string): Agent.Options {
  return {
    keepAliveTimeout: 30_000,
    connections: 4,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { timeout: timeoutMs, signal: stop, ...(ca === undefined ? {} : { ca, rejectUnauthorized: true }) },
  }
}

interface OwnedAgent { agent: Agent, stop: AbortController }

function openAgent (timeoutMs: number, ca?: string): OwnedAgent {
  const stop = new AbortController()
  // One listener per socket of the agent, however many origins it serves: no leak warning past 10.
  setMaxListeners(0, stop.signal)
  return { agent: new Agent(agentOptions(timeoutMs, stop.signal, ca)), stop }
}

async function shut (a: OwnedAgent): Promise<void> {
  a.stop.abort()
  await a.agent.destroy()
}

/** Agents trusting the system CAs, one per timeout in use, with the number of credentials using each. */
const shared = new Map<number, OwnedAgent & { users: number }>()

/** One credential's way to its identity service; close() it with the credential. */
interface IdpDispatcher {
  readonly dispatcher: Dispatcher
  /** Ends the connections: those of a dedicated agent, or of the shared one once its last user is gone. */
  close (): Promise<void>
}

/**
 * The dispatcher for one credential: a shared agent (system CAs), or a dedicated one that
 * trusts only `ca` (PEM) when the credential names a private CA. Certificates are always verified.
 */
export function idpDispatcher (ca: string | undefined, timeoutS: number): IdpDispatcher {
  const ms = Math.round(timeoutS * 1000)
  if (ca !== undefined) {
    const own = openAgent(ms, ca)
    let closed: Promise<void> | undefined
    return { dispatcher: own.agent, close: async () => { await (closed ??= shut(own)) } }
  }
  let agent = shared.get(ms)
  if (agent === undefined) shared.set(ms, agent = { ...openAgent(ms), users: 0 })
  const used = agent
  used.users += 1
  let released = false
  return {
    dispatcher: used.agent,
    async close () {
      if (released) return
      released = true
      used.users -= 1
      if (used.users > 0) return
      shared.delete(ms)
      await shut(used)
    },
  }
}

/** OpenSSL's verdicts on a peer certificate (Node puts them in `code`). */
const CERT_ERROR = /CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE/

/**
 * One POST to an identity service; rejects as soon as `signal` aborts, whatever phase the request is in.
 * `secrets`: every secret value the request carries (the Authorization header is added here), for the answer's `redact`.
 */
export async function postToIdp (url: string, headers: Record<string, string>, body: string, signal: AbortSignal, dispatcher: Dispatcher,
  secrets: ReadonlyArray<string | undefined>): Promise<IdpAnswer> {
  const auth = headers.authorization
  const redact = redactor([...secrets, auth, auth?.slice(auth.indexOf(' ') + 1)])
  return { ...await untilAborted(post(url, headers, body, signal, dispatcher), signal), redact }
}

async function post (url: string, headers: Record<string, string>, body: string, signal: AbortSignal,
  dispatcher: Dispatcher): Promise<Omit<IdpAnswer, 'redact'>> {
  let res: Dispatcher.ResponseData
  try {
    // A dispatcher's request() never follows redirects: a token endpoint that redirects is answered as is.
    const { origin, pathname, search } = new URL(url)
    res = await dispatcher.request({ origin, path: `${pathname}${search}`, method: 'POST', headers, body, signal })
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && CERT_ERROR.test(code)) {
      throw new TokenRequestError('TLS_UNTRUSTED',
        `TLS certificate of ${new URL(url).host} not trusted: ${code} (${(err as Error).message}); ` +
          'for a private CA set ca: { file: PATH } on the credential',
        { error: code }, { cause: err })
    }
    throw err
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length
    if (size > MAX_ANSWER_BYTES) {
      res.body.destroy()
      return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), text: '', truncated: true }
    }
    chunks.push(chunk as Buffer)
  }
  return {
    status: res.statusCode,
    contentType: String(res.headers['content-type'] ?? ''),
    text: Buffer.concat(chunks).toString('utf8'),
    truncated: false,
  }
}

/** HTTP Basic client authentication per RFC 6749 §2.3.1: form-encode, then base64. */
export function basicAuth (id: string, secret: string): string {
  return `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`
}
