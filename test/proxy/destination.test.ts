// The upstream path for a client path: the prefix swapped for the target's base path, exactly as the URL parser would write it.
import t from 'tap'
import { destinationFor, upstreamPath } from '../../src/proxy/destination.js'

t.test('prefix and base path', async (t) => {
  const root = destinationFor('/registry', 'http://127.0.0.1:8080')
  t.equal(upstreamPath(root, '/registry/start-bp'), '/start-bp')
  t.equal(upstreamPath(root, '/registry'), '/')
  t.equal(upstreamPath(root, '/registry?x=1'), '/?x=1', 'exactly the prefix and a query: the root with the query')
  t.equal(upstreamPath(root, '/registry/'), '/')
  const base = destinationFor('/registry', 'http://127.0.0.1:8080/api/v1/')
  t.equal(upstreamPath(base, '/registry/items?q=a..b'), '/api/v1/items?q=a..b', 'the query goes as it came')
  t.equal(upstreamPath(base, '/registry'), '/api/v1')
  t.equal(upstreamPath(base, '/registry/'), '/api/v1/')
  const dedicated = destinationFor('', 'http://127.0.0.1:8080/api')
  t.equal(upstreamPath(dedicated, '/x/y'), '/api/x/y', 'a dedicated port: the whole path under the base path')
  t.equal(upstreamPath(dedicated, '/'), '/api/')
})

t.test('a prefix spelled with %-escapes is still the prefix', async (t) => {
  const d = destinationFor('/registry', 'http://127.0.0.1:8080/base')
  t.equal(upstreamPath(d, '/r%65gistry/x'), '/base/x')
  const root = destinationFor('/registry', 'http://127.0.0.1:8080')
  t.equal(upstreamPath(root, '/%F0%9F%98%80'), '/%F0%9F%98%80', 'a path that does not spell the prefix goes as the URL parser writes it')
  t.throws(() => upstreamPath(d, '/%F0%9F%98%80'), { code: 'BAD_REQUEST' }, 'but never outside the base path')
})

t.test('every path comes out as the URL parser writes it', async (t) => {
  const d = destinationFor('/up', 'http://127.0.0.1:8080/b')
  const tails = ['/plain', '/a.b/c-d_e~f', "/!$&'()*+,;=:@", '/file%20name.txt', '/caf%C3%A9', '/a"b', '/a<b>', '/a{b}',
    '/a|b', '/a^b', '/a`b', '/é', '/.well-known/x', '/a/.hidden', '/[...slug]']
  for (const tail of tails) {
    const want = new URL(`/b${tail}`, 'http://127.0.0.1:8080').pathname
    t.equal(upstreamPath(d, `/up${tail}`), want, `${tail} -> ${want}`)
  }
})

t.test('segments starting with two dots and bad escapes are refused', async (t) => {
  const d = destinationFor('/up', 'http://127.0.0.1:8080')
  for (const path of ['/up/..hidden', '/up/...', '/up/a/%2e%2e', '/up/%E0%A4%A', '/up/%zz']) {
    t.throws(() => upstreamPath(d, path), { code: 'BAD_REQUEST' }, path)
  }
})
