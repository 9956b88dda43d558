// HTTP to identity services: keep-alive agents (one per private CA), a timeout via AbortSignal, a cap on what is read.
import { Agent, type Dispatcher } from 'undici'
import { TokenRequestError } from './token-error.js'

/** Identity services answer a few KiB; anything past this is not a token response. */
export const MAX_ANSWER_BYTES = 1024 * 1024

export interface IdpAnswer {
  status: number
  contentType: string
  text: string
  /** True when the answer was larger than MAX_ANSWER_BYTES and was not read whole. */
  truncated: boolean
}

const AGENT_OPTIONS = { keepAliveTimeout: 30_000, connections: 4 }
const shared = new Agent(AGENT_OPTIONS)

/**
 * The dispatcher for one credential: the shared agent (system CAs), or a dedicated one that
 * trusts only `ca` (PEM) when the credential names a private CA. Certificates are always verified.
 */
export function idpDispatcher (ca?: string): Dispatcher {
  return ca === undefined ? shared : new Agent({ ...AGENT_OPTIONS, connect: { ca, rejectUnauthorized: true } })
}

/** OpenSSL's verdicts on a peer certificate (Node puts them in `code`). */
const CERT_ERROR = /CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE/

export async function postToIdp (url: string, headers: Record<string, string>, body: string, signal: AbortSignal, dispatcher: Dispatcher = shared): Promise<IdpAnswer> {
  let res: Dispatcher.ResponseData
  try {
    // A dispatcher's request() never follows redirects: a token endpoint that redirects is answered as is.
    const { origin, pathname, search } = new URL(url)
    res = await dispatcher.request({ origin, path: `${pathname}${search}`, method: 'POST', headers, body, signal })
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && CERT_ERROR.test(code)) {
      throw new TokenRequestError(
        `TLS certificate of ${new URL(url).host} not trusted: ${code} (${(err as Error).message}); for a private CA set ca: { file: PATH } on the credential`,
        { outcome: 'error', error: code }, { cause: err })
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
  return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8'), truncated: false }
}

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
export function formEncode (value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2)
}

/** HTTP Basic client authentication per RFC 6749 §2.3.1: form-encode, then base64. */
export function basicAuth (id: string, secret: string): string {
  return `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`
}
