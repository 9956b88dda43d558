// While the identity service is down, 503 TOKEN_UNAVAILABLE warnings are summarised: one line per credential per interval, with a count.
import { pino } from 'pino'
import t from 'tap'
import { request } from 'undici'
import { LogSummary } from '../../src/observability/log-summary.js'
import { startRawIdp } from '../helpers/raw-idp.js'
import { LogCapture, startSidecar, until } from '../helpers/sidecar.js'

t.test('twenty failed client requests: one warning at once, then one line with the count', async (t) => {
  const idp = await startRawIdp(() => {})
  await idp.close()
  const s = await startSidecar(t, {
    credentials: {
      registry: { type: 'keycloak', tokenUrl: idp.tokenUrl, clientId: 'c', clientSecret: 's' },
      other: { type: 'keycloak', tokenUrl: idp.tokenUrl, clientId: 'c2', clientSecret: 's' },
    },
    upstreams: {
      registry: { target: 'http://127.0.0.1:9', credential: 'registry', prefix: '/registry' },
      other: { target: 'http://127.0.0.1:9', credential: 'other', prefix: '/other' },
    },
  }, { summaryIntervalMs: 300 })
  const failing = (name: string): boolean => s.sidecar.tokens.status()[name]!.state === 'failing'
  await until(() => failing('registry') && failing('other'), 3000, 'both credentials failing')
  const statuses = await Promise.all([
    ...Array.from({ length: 20 }, async () => (await request(`${s.url}/registry/x`)).statusCode),
    (async () => (await request(`${s.url}/other/x`)).statusCode)(),
  ])
  t.same(new Set(statuses), new Set([503]), 'every client got 503')
  const about = (name: string): Array<Record<string, unknown>> =>
    s.logs.lines.filter((l) => l.code === 'TOKEN_UNAVAILABLE' && l.credential === name)
  await until(() => about('registry').length === 2, 3000, 'the summary line')
  const [first, summary] = about('registry')
  t.match(first, { level: 40, msg: /^no usable access token for credential "registry"/ })
  t.notOk('count' in first!, 'the first is logged as it is')
  t.match(summary,
    {
      level: 40,
      count: 19,
      intervalS: 0.3,
      msg: /^19 more like this in the last 0\.3s; the last: no usable access token for credential "registry"/,
    })
  t.equal(about('other').length, 1, 'another credential has its own line')
})

t.test('on stop, what is still counted is logged, and no timer is left', async (t) => {
  const logs = new LogCapture()
  const summary = new LogSummary(pino({ level: 'warn' }, logs), 60_000)
  for (let i = 0; i < 3; i++) summary.warn('credential a', { credential: 'a', n: i }, `failed ${i}`)
  summary.warn('credential b', { credential: 'b' }, 'failed b')
  summary.close()
  t.same(logs.lines.map((l) => [l.credential, l.count, l.msg]), [
    ['a', undefined, 'failed 0'],
    ['b', undefined, 'failed b'],
    ['a', 2, '2 more like this before stopping; the last: failed 2'],
  ])
})
