// A loopback token endpoint that answers each request from a script, for token shapes the Keycloak emulator cannot produce.
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, type JWTPayload } from 'jose'
import { registerTokensIn } from './leak-registry.js'

/** One answer: a JSON body (status 200 unless given), or `down` (the socket is destroyed, no answer). */
export type ScriptedAnswer = { status?: number, body: unknown } | 'down'

export interface ScriptedRequest {
  /** 1-based number of this request. */
  n: number
  headers: IncomingHttpHeaders
  body: string
  /** Date.now() when the request had been read. */
  time: number
  /** Date.now() just before the answer was written (undefined for `down`). */
  answeredAt?: number
  /** The body that was sent, as given by the script. */
  answer?: unknown
}

/** Called with the 1-based request number; may be async. */
export type Script = (n: number) => ScriptedAnswer | Promise<ScriptedAnswer>

export interface ScriptedIdp {
  /** Token URL to put in a credential's `tokenUrl`. */
  tokenUrl: string
  requests: ScriptedRequest[]
  /** Replaces the script for the following requests. */
  setScript (script: Script): void
  close (): Promise<void>
}

const KEY = randomBytes(32)

/** An HS256 JWT with exactly these claims (no iat or exp added). */
export async function signJwt (claims: JWTPayload): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(KEY)
}

export async function startScriptedIdp (script: Script): Promise<ScriptedIdp> {
  let current = script
  const requests: ScriptedRequest[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const rec: ScriptedRequest = {
        n: requests.length + 1,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        time: Date.now(),
      }
      requests.push(rec)
      Promise.resolve(current(rec.n)).then((answer) => {
        if (answer === 'down') {
          req.socket.destroy()
          return
        }
        const text = JSON.stringify(answer.body)
        registerTokensIn(answer.body)
        rec.answer = answer.body
        rec.answeredAt = Date.now()
        res.writeHead(answer.status ?? 200, {
          'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store',
        }).end(text)
      }, () => { res.destroy() })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    tokenUrl: `http://127.0.0.1:${port}/token`,
    requests,
    setScript (next) { current = next },
    async close () {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    },
  }
}
