// Requests that are not valid HTTP (bad request line, CR in a header, huge headers) get problem+json, never reach upstream.
import t from 'tap'
import { rawRequest, startStack } from '../helpers/proxy-fixture.js'

t.test('unparseable requests are refused as problem+json', async (t) => {
  const s = await startStack(t)
  const cases: Array<[string, string, number, string]> = [
    ['no leading slash', 'GET registry/x HTTP/1.1', 400, 'BAD_REQUEST'],
    ['CR inside a header value', 'GET /registry/x HTTP/1.1\r\nX-Evil: a\rInjected: b', 400, 'BAD_REQUEST'],
    ['NUL inside a header value', 'GET /registry/x HTTP/1.1\r\nX-Evil: a\0b', 400, 'BAD_REQUEST'],
    ['a space in the header name', 'GET /registry/x HTTP/1.1\r\nX Evil: a', 400, 'BAD_REQUEST'],
    ['headers over 16 KiB', `GET /registry/x HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}`, 431, 'HEADERS_TOO_LARGE'],
  ]
  for (const [name, head, status, code] of cases) {
    const res = await rawRequest(s.url, head)
    t.equal(res.status, status, `${name}: ${status}`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${name}: problem+json`)
    t.equal(JSON.parse(res.body).code, code, `${name}: ${code}`)
  }
  t.equal(s.up.requests.length, 0, 'nothing reached the upstream')
  const ok = await rawRequest(s.url, 'GET /registry/x HTTP/1.1')
  t.equal(ok.status, 200, 'and the sidecar keeps serving')
})
