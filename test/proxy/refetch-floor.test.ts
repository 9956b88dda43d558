// An endpoint that answers 401 to every token costs a bounded number of token requests, not one per client request.
import t from 'tap'
import { request } from 'undici'
import { metricValue, startStack } from '../helpers/proxy-fixture.js'

const POLLS = 30

t.test(`${POLLS} sequential requests to an endpoint that always answers 401: one 401-triggered token fetch`, async (t) => {
  const s = await startStack(t)
  const before = s.idp.tokenRequests
  s.up.setMode({ kind: 'reject', tokens: 'all' })
  const start = Date.now()
  for (let i = 1; i <= POLLS; i++) {
    const res = await request(`${s.url}/registry/always-401`)
    await res.body.text()
    t.equal(res.statusCode, 401, `request ${i}: the upstream's 401 goes back`)
  }
  const ms = Date.now() - start
  const fetched = s.idp.tokenRequests - before
  t.equal(fetched, 1, `${fetched} token request(s) for ${POLLS} requests in ${ms} ms (the floor: one per credential per 10 s)`)
  // The first 401 got a replay with the fresh token; after that the floor keeps the token, and a replay would be refused again.
  t.equal(s.up.requests.length, POLLS + 1, 'one replay in all')
  t.equal(metricValue(await s.scrape(), 'tokenproxy_upstream_auth_retries_total', { upstream: 'registry' }), 1)
  t.ok(s.sidecar.tokens.usable('registry') !== undefined, 'the token is kept in use')
})

t.test('past the window, a 401 fetches a fresh token again', async (t) => {
  const s = await startStack(t, { build: { refetchLimit: { max: 1, windowMs: 500 } } })
  s.up.setMode({ kind: 'reject', tokens: 'all' })
  const poll = async (): Promise<void> => { await (await request(`${s.url}/registry/x`)).body.text() }
  const before = s.idp.tokenRequests
  await poll()
  await poll()
  t.equal(s.idp.tokenRequests - before, 1, 'two 401s within the window: one fetch')
  await new Promise((resolve) => setTimeout(resolve, 600))
  await poll()
  t.equal(s.idp.tokenRequests - before, 2, 'a 401 after the window: one more')
})
