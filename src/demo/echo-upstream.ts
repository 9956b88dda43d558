// The demo's upstream: answers with what it received, showing the injected token's claims (not the token).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeJwt } from 'jose'
import { fingerprint } from '../tokens/fingerprint.js'

interface EchoUpstream { url: string, close (): Promise<void> }

function describeAuthorization (value: string | undefined): unknown {
  if (value === undefined) return null
  const m = /^Bearer (\S+)$/.exec(value)
  if (m === null) return { scheme: value.split(' ')[0] }
  const token = m[1]!
  let claims: Record<string, unknown> = {}
  try {
    const c = decodeJwt(token)
    claims = {
      iss: c.iss,
      azp: c.azp,
      exp: c.exp,
      expiresInS: typeof c.exp === 'number' ? Math.round(c.exp - Date.now() / 1000) : undefined,
    }
  } catch { /* opaque token */ }
  return { scheme: 'Bearer', fingerprint: fingerprint(token), ...claims }
}

export async function startEchoUpstream (): Promise<EchoUpstream> {
  const server = createServer((req, res) => {
    let bytes = 0
    req.on('data', (c: Buffer) => { bytes += c.length })
    req.on('end', () => {
      const { authorization, ...headers } = req.headers
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify({
        method: req.method, url: req.url, authorization: describeAuthorization(authorization), bodyBytes: bytes, headers,
      }, null, 2)}\n`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) },
  }
}
