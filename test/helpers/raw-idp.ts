// A bare node:http token endpoint on loopback whose answer each test scripts byte for byte.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { issuedList, registerTokensSentBy } from './leak-registry.js'

export interface RawRequest { method: string, url: string, headers: IncomingHttpHeaders, body: string }

export type RawHandler = (req: IncomingMessage, res: ServerResponse, body: string) => void

export interface RawIdp {
  /** Base URL, no trailing slash. */
  url: string
  /** Token URL a config can point at (any path is answered by the handler). */
  tokenUrl: string
  requests: RawRequest[]
  close (): Promise<void>
}

export async function startRawIdp (handler: RawHandler): Promise<RawIdp> {
  const requests: RawRequest[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body })
      registerTokensSentBy(res)
      handler(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    tokenUrl: `${url}/realms/raw/protocol/openid-connect/token`,
    requests,
    async close () {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    },
  }
}

/** Streams `bytes` bytes of a JSON-looking body (a huge string member) with the given status. */
export function hugeJson (res: ServerResponse, status: number, bytes: number): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes })
  const head = '{"access_token":"'
  const chunk = Buffer.alloc(64 * 1024, 'a')
  let sent = 0
  const pump = (): void => {
    if (sent === 0) { res.write(head); sent = head.length }
    while (sent < bytes - 2 && !res.destroyed) {
      const n = Math.min(chunk.length, bytes - 2 - sent)
      sent += n
      if (!res.write(chunk.subarray(0, n))) { res.once('drain', pump); return }
    }
    if (!res.destroyed) res.end('"}')
  }
  res.on('error', () => { /* the client stopped reading: expected */ })
  pump()
}

/** Client assertions (private_key_jwt) that reached an echoing peer: secrets of a request, looked for by the leak scan. */
const assertionsSeen = issuedList('client assertion sent to an identity service')

/**
 * An identity service, or a gateway or error page in front of it, that echoes the request it got
 * into every error field tokenproxy reads (Keycloak's error/error_description, REGARDS' detailMessage,
 * the wallet's message): the raw body, the body percent-encoded, the Authorization header, decoded too.
 */
export function echoEverything (status: number): RawHandler {
  return (req, res, body) => {
    const assertion = new URLSearchParams(body).get('client_assertion')
    if (assertion !== null) assertionsSeen.push(assertion)
    const auth = req.headers.authorization ?? ''
    const basic = /^Basic (\S+)$/i.exec(auth)?.[1]
    const decoded = basic === undefined ? '' : Buffer.from(basic, 'base64').toString('utf8')
    const echo = `${body} | ${encodeURIComponent(body)} | ${auth} | ${decoded}`
    const text = JSON.stringify({
      error: `unauthorized_client ${body}`,
      error_description: `request ${echo} (basic ${auth})`,
      detailMessage: `Access denied for ${echo}`,
      additionalInformation: { error: `ACCOUNT_UNKNOWN ${decoded}` },
      message: `Keycloak returned error code: 401 Unauthorized ${echo}`,
      id: `RuntimeException ${body}`,
    })
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
  }
}
