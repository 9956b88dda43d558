// Self-signed certificates made with openssl at test time, and tiny https peers (token endpoint, echo upstream) serving them.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import { SignJWT } from 'jose'

export interface SelfSigned {
  /** PEM files: the certificate doubles as its own CA. */
  certFile: string
  keyFile: string
  cert: string
  key: string
}

/** A self-signed P-256 certificate for localhost / 127.0.0.1, valid one day, written into `dir`. */
export function selfSigned (dir: string, name = 'server'): SelfSigned {
  const certFile = join(dir, `${name}-cert.pem`)
  const keyFile = join(dir, `${name}-key.pem`)
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'pipe' })
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }
}

export interface HttpsPeer {
  url: string
  /** Requests that completed a TLS handshake and reached the handler. */
  requests: Array<{ method: string, url: string, authorization?: string }>
  /** Tokens handed out, in order. */
  issued: string[]
  close (): Promise<void>
}

async function serve (tls: SelfSigned, handler: Parameters<typeof createServer>[1],
  peer: Omit<HttpsPeer, 'url' | 'close'>): Promise<HttpsPeer> {
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, handler)
  // Refused handshakes surface here; they are the point of some tests, not a failure.
  server.on('tlsClientError', () => undefined)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    ...peer,
    url: `https://127.0.0.1:${port}`,
    async close () {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    },
  }
}

const SIGNING_KEY = new TextEncoder().encode('tls-peer-signing-key-0123456789abcdef')

/**
 * An https identity service that answers every POST with a Keycloak-style token JSON (also carrying
 * `token`, so the walt.id wallet login reads it too): a JWT valid for 300 s.
 */
export async function startHttpsIdp (tls: SelfSigned): Promise<HttpsPeer> {
  const peer: Omit<HttpsPeer, 'url' | 'close'> = { requests: [], issued: [] }
  return await serve(tls, (req, res) => {
    req.resume()
    req.on('end', () => {
      peer.requests.push({ method: req.method ?? '', url: req.url ?? '' })
      const now = Math.floor(Date.now() / 1000)
      void new SignJWT({ azp: 'test-client', jti: `t${peer.issued.length + 1}` }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuedAt(now).setExpirationTime(now + 300).sign(SIGNING_KEY).then((jwt) => {
          peer.issued.push(jwt)
          const body = JSON.stringify({
            access_token: jwt,
            token: jwt,
            id: 'account-1',
            expires_in: 300,
            refresh_expires_in: 0,
            token_type: 'Bearer',
            scope: 'profile email',
          })
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body)
        })
    })
  }, peer)
}

/** An https upstream that echoes the method, path and Authorization it received. */
export async function startHttpsEcho (tls: SelfSigned): Promise<HttpsPeer> {
  const peer: Omit<HttpsPeer, 'url' | 'close'> = { requests: [], issued: [] }
  return await serve(tls, (req, res) => {
    req.resume()
    req.on('end', () => {
      const rec = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization }
      peer.requests.push(rec)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rec))
    })
  }, peer)
}

export interface SilentPeer {
  port: number
  /** Connections accepted so far. */
  accepted: number
  close (): Promise<void>
}

/**
 * A plain `net` server that accepts connections, reads what comes and never writes: as an https
 * peer, a TLS handshake that never completes; as an http one, a request that is never answered.
 */
export async function startSilentPeer (): Promise<SilentPeer> {
  const sockets = new Set<Socket>()
  const server = createNetServer((socket) => {
    peer.accepted++
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
    socket.resume()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const peer: SilentPeer = {
    port: (server.address() as AddressInfo).port,
    accepted: 0,
    async close () {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return peer
}
