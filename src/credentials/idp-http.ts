// HTTP to identity services: one keep-alive agent, a timeout via AbortSignal, a cap on what is read.
import { Agent, request } from 'undici'

/** Identity services answer a few KiB; anything past this is not a token response. */
export const MAX_ANSWER_BYTES = 1024 * 1024

export interface IdpAnswer {
  status: number
  contentType: string
  text: string
  /** True when the answer was larger than MAX_ANSWER_BYTES and was not read whole. */
  truncated: boolean
}

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 4 })

export async function postToIdp (url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<IdpAnswer> {
  // undici's request() never follows redirects: a token endpoint that redirects is answered as is.
  const res = await request(url, { method: 'POST', headers, body, signal, dispatcher: agent })
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
