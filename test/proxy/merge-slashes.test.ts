// Repeated slashes are merged before routing (nginx's merge_slashes): /registry//start-bp reaches
// {target}/start-bp; real escapes stay refused.
import t from 'tap'
import { rawRequest, startStack } from '../helpers/proxy-fixture.js'

t.test('repeated slashes are merged, on the shared and the dedicated listener', async (t) => {
  const s = await startStack(t, { upstream: (upUrl) => ({ target: `${upUrl}/api`, port: 0 }) })
  const cases: Array<[string, string, string]> = [
    [s.url, '/registry//start-bp', '/api/start-bp'],
    [s.url, '//registry///a//b', '/api/a/b'],
    [s.url, '/registry//x?next=//y&u=http://z', '/api/x?next=//y&u=http://z'],
    [s.url, '/registry//', '/api/'],
    [s.addresses['upstreams.registry']!, '//x//y', '/api/x/y'],
  ]
  for (const [base, path, want] of cases) {
    const res = await rawRequest(base, `GET ${path} HTTP/1.1`)
    t.equal(res.status, 200, `${path}: 200`)
    t.equal(s.up.requests.at(-1)?.url, want, `${path}: the upstream got ${want}`)
  }
  t.equal(s.up.requests.length, cases.length)
})

t.test('merging opens no escape: dot segments, encoded slashes and off-route paths stay refused', async (t) => {
  const s = await startStack(t)
  const refused: Array<[string, number]> = [
    ['/registry//../x', 400],
    ['/registry//..', 400],
    ['/registry//%2e%2e//x', 400],
    ['/registry//a%2f//b', 400],
    ['//%2e%2e/registry/x', 400],
    ['/registry/.//x', 400],
    ['//nowhere//x', 404],
    ['/regis//try/x', 404],
  ]
  for (const [path, status] of refused) {
    const res = await rawRequest(s.url, `GET ${path} HTTP/1.1`)
    t.equal(res.status, status, `${path}: ${status}`)
  }
  t.equal(s.up.requests.length, 0, 'nothing reached the upstream')
})
