// Bodies kept for a 401 replay share listen.replayBudget: past it a body streams and its 401 goes back; the budget
// comes back when the exchange ends.
import t from 'tap'
import { request } from 'undici'
import { bearerOf, startStack } from '../helpers/proxy-fixture.js'

const BODY = Buffer.alloc(600 * 1024, 'p')

t.test('with a 1 MiB budget, a second 600 KiB body is not kept while the first is; once that ends, bodies are kept again', async (t) => {
  let stale: string | undefined
  const s = await startStack(t, {
    doc: { listen: { host: '127.0.0.1', port: 0, replayBudget: 1 } },
    build: { refetchLimit: { max: Infinity, windowMs: 0 } },
    handler: (req, res, rec) => {
      if (rec.url === '/reject' && bearerOf(req.headers) === stale) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' })
          .end('{"error":"invalid_token"}')
        return
      }
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          url: rec.url,
          bytes: rec.bodyBytes,
        }))
      }
      if (rec.url === '/hold') setTimeout(answer, 1000)
      else answer()
    },
  })
  const post = async (path: string): Promise<{ status: number, body: string }> => {
    const res = await request(`${s.url}/registry${path}`,
      { method: 'POST', body: BODY, headers: { 'content-type': 'application/octet-stream' } })
    return { status: res.statusCode, body: await res.body.text() }
  }
  stale = s.sidecar.tokens.usable('registry')!.token
  const held = post('/hold')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const over = await post('/reject')
  t.equal(over.status, 401, 'past the budget: the body streamed, so the 401 goes back without a replay')
  t.equal(s.up.requests.filter((r) => r.url === '/reject').length, 1, 'one attempt')
  t.equal((await held).status, 200, 'the held upload finished')

  stale = s.sidecar.tokens.usable('registry')!.token
  const kept = await post('/reject')
  t.equal(kept.status, 200, 'with the budget back, the body was kept and the request replayed')
  t.same(JSON.parse(kept.body), { url: '/reject', bytes: BODY.length }, 'the replay carried the whole body')
})

t.test('replayBudget: 0 keeps no body: a small upload that gets a 401 is not replayed', async (t) => {
  const s = await startStack(t, { doc: { listen: { host: '127.0.0.1', port: 0, replayBudget: 0 } } })
  s.up.setMode({ kind: 'reject', tokens: new Set([s.sidecar.tokens.usable('registry')!.token]) })
  const res = await request(`${s.url}/registry/small`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } })
  await res.body.text()
  t.equal(res.statusCode, 401)
  t.equal(s.up.requests.length, 1, 'no replay')
})
