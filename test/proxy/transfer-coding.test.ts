// A transfer coding other than chunked (gzip, chunked) is refused with 400 problem+json instead of being dropped silently.
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { rawRequest, startStack } from '../helpers/proxy-fixture.js'

const chunked = (body: Buffer): string => `${body.length.toString(16)}\r\n${body.toString('latin1')}\r\n0\r\n\r\n`

t.test('Transfer-Encoding: gzip, chunked: 400 BAD_REQUEST, nothing forwarded', async (t) => {
  const s = await startStack(t)
  const res = await rawRequest(s.url,
    'POST /registry/upload HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked',
    chunked(Buffer.from(gzipSync('{"a":1}').toString('base64'))))
  t.equal(res.status, 400)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(JSON.parse(res.body), { code: 'BAD_REQUEST', detail: /Transfer-Encoding "gzip, chunked" is not supported: only chunked/ })
  t.equal(s.up.requests.length, 0, 'the upstream saw nothing')
})

t.test('Transfer-Encoding: chunked with Content-Encoding: gzip is forwarded, coding and bytes intact', async (t) => {
  const s = await startStack(t)
  // rawRequest writes text: the payload stands in for gzip bytes (the proxy does not look inside).
  const gz = Buffer.from('H4sI-stand-in-for-gzip-bytes')
  const res = await rawRequest(s.url,
    'POST /registry/upload HTTP/1.1\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked', chunked(gz))
  t.equal(res.status, 200)
  t.equal(s.up.requests.length, 1)
  t.equal(s.up.requests[0]!.headers['content-encoding'], 'gzip')
  t.equal(s.up.requests[0]!.bodyBytes, gz.length)
})
