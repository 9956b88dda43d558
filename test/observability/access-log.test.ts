// log.requests: one access-log line per proxied request (method, route, upstream, status, duration, bytes, fingerprint),
// never a query or header value.
import t from 'tap'
import { request } from 'undici'
import { summarize } from '../../src/commands/check.js'
import { startStack } from '../helpers/proxy-fixture.js'
import { until } from '../helpers/sidecar.js'

const QUERY_SECRET = 'q-S3cret-value'
const HEADER_SECRET = 'h-S3cret-value'

const accessLines = (lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> => lines.filter((l) => 'durationMs' in l)

t.test('log.requests: true: one line per request, with route, upstream, status, bytes and the token\'s fingerprint', async (t) => {
  const s = await startStack(t, { doc: { log: { level: 'info', requests: true } }, upstream: { port: 0 } })
  const res = await request(`${s.url}/registry/start-bp?api_key=${QUERY_SECRET}&page=2`,
    { headers: { 'x-api-key': HEADER_SECRET, cookie: `s=${HEADER_SECRET}` } })
  const body = await res.body.text()
  t.equal(res.statusCode, 200)
  const dedicated = await request(`${s.addresses['upstreams.registry']}/direct`)
  await dedicated.body.text()
  const missing = await request(`${s.url}/nowhere?x=1`)
  await missing.body.text()
  await until(() => accessLines(s.logs.lines).length === 3, 2000, 'three access-log lines')

  t.match(summarize(s.sidecar.config, 'f.yaml'), /^ {2}listen .* log info, pretty on a terminal, else json, access log on$/m,
    'check shows the log settings')
  const [first, viaPort, noRoute] = accessLines(s.logs.lines)
  const token = s.sidecar.tokens.usable('registry')!
  t.match(first, {
    level: 30,
    method: 'GET',
    route: '/registry',
    upstream: 'registry',
    path: '/registry/start-bp',
    query: ['api_key', 'page'],
    status: 200,
    fingerprint: token.fingerprint,
    msg: 'GET /registry/start-bp -> registry 200 ' + String(first!.durationMs) + 'ms',
  })
  t.type(first!.durationMs, 'number')
  t.ok((first!.bytes as number) > body.length, `bytes (${String(first!.bytes)}) count the body (${body.length}) and the head`)
  t.match(viaPort,
    { route: `port ${new URL(s.addresses['upstreams.registry']!).port}`, upstream: 'registry', path: '/direct', status: 200 })
  t.match(noRoute, { method: 'GET', route: null, upstream: null, path: '/nowhere', query: ['x'], status: 404, fingerprint: null })
  t.notOk(s.logs.text.includes(QUERY_SECRET), 'no query value in the log')
  t.notOk(s.logs.text.includes(HEADER_SECRET), 'no header value in the log')
})

t.test('log.requests defaults to false: no access-log line', async (t) => {
  const s = await startStack(t, { doc: { log: { level: 'trace' } } })
  const res = await request(`${s.url}/registry/x`)
  await res.body.text()
  t.equal(res.statusCode, 200)
  t.same(accessLines(s.logs.lines), [], 'nothing, even at trace')
  t.equal(s.sidecar.config.log.requests, false)
  t.match(summarize(s.sidecar.config, 'f.yaml'), /^ {2}listen .* log trace, pretty on a terminal, else json, access log off$/m,
    'check says so')
})
