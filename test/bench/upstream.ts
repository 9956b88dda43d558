// Bench upstream, run as its own process: 100-byte GET, 1 MiB GET, and a sink that consumes a POST body.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { BIG_BYTES, SMALL_BYTES, isMain } from './scenarios.js'

const small = Buffer.alloc(SMALL_BYTES, 'a')
const big = Buffer.alloc(BIG_BYTES, 'b')

function answer (res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body)
}

/** Every request must carry a bearer token, so a proxy that forgets to inject one shows as non-2xx. */
function handle (req: IncomingMessage, res: ServerResponse): void {
  if (!(req.headers.authorization ?? '').startsWith('Bearer ')) {
    req.resume()
    answer(res, 401, Buffer.from('no bearer token'))
    return
  }
  if (req.method === 'GET' && req.url === '/small') return answer(res, 200, small)
  if (req.method === 'GET' && req.url === '/big') return answer(res, 200, big)
  if (req.method === 'POST' && req.url === '/sink') {
    let bytes = 0
    req.on('data', (c: Buffer) => { bytes += c.length })
    req.on('end', () => answer(res, bytes === BIG_BYTES ? 200 : 400, Buffer.from(String(bytes))))
    return
  }
  req.resume()
  answer(res, 404, Buffer.from('no such bench route'))
}

if (isMain(import.meta.url) && process.send !== undefined) {
  const server = createServer(handle)
  // Longer than any pause between bench runs, so that proxies' pooled connections are not closed under them.
  server.keepAliveTimeout = 120_000
  server.headersTimeout = 130_000
  server.listen(0, '127.0.0.1', () => {
    process.send!({ port: (server.address() as { port: number }).port })
  })
  process.on('disconnect', () => process.exit(0))
}
