// request.log is a lazy child: bound to the reqId when a line is written, and never made when none is.
import { Writable } from 'node:stream'
import t from 'tap'
import { pino, type Logger } from 'pino'
import { request } from 'undici'
import { lazyChildLogger } from '../../src/observability/logger.js'
import { startStack } from '../helpers/proxy-fixture.js'

function capture (level: string): { logger: Logger, lines: Array<Record<string, unknown>>, children: () => number } {
  const lines: Array<Record<string, unknown>> = []
  const logger: Logger = pino({ level, redact: { paths: ['token'], censor: '[redacted]' } }, new Writable({
    write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done() },
  }))
  let made = 0
  const child = logger.child
  // pino children inherit from their parent, so this counts every child made below `logger`.
  logger.child = function (this: typeof logger, ...args: Parameters<typeof child>) {
    made++; return child.apply(this,
      args)
  } as typeof logger.child
  return { logger, lines, children: () => made }
}

t.test('nothing written: no pino child is made; a line written: it carries the bindings, through one child', async (t) => {
  const { logger, lines, children } = capture('info')
  const log = lazyChildLogger(logger, { reqId: 'req-7' }, {})
  t.equal(log.level, 'info', 'level is the parent\'s')
  log.debug({ x: 1 }, 'below the level')
  log.trace('below the level')
  t.equal(children(), 0, 'no child for lines under the level')
  t.same(lines, [])
  log.info({ token: 'secret-value' }, 'first')
  log.warn('second')
  log.error(new Error('boom'), 'third')
  t.equal(children(), 1, 'one child, made once')
  t.same(lines.map((l) => [l.msg, l.reqId]), [['first', 'req-7'], ['second', 'req-7'], ['third', 'req-7']])
  t.equal(lines[0]!.token, '[redacted]', 'the parent\'s redaction applies')
  t.equal(log.level, 'info')
  t.equal((log as unknown as { isLevelEnabled (l: string): boolean }).isLevelEnabled('debug'), false)
  const grandchild = log.child({ upstream: 'registry' })
  grandchild.info('fourth')
  t.same([lines[3]!.reqId, lines[3]!.upstream], ['req-7', 'registry'], 'children of the request logger keep its bindings')
  log.fatal('fifth')
  ;(log.silent as () => void)()
  t.equal(lines.length, 5)
  t.equal(children(), 2, 'the request child and the one asked for')
})

t.test('through the proxy: a replay logged at debug names its reqId', async (t) => {
  const s = await startStack(t)
  s.up.setMode({ kind: 'reject', tokens: new Set([s.sidecar.tokens.usable('registry')!.token]) })
  const res = await request(`${s.url}/registry/x`)
  t.equal(res.statusCode, 200)
  await res.body.dump()
  const replays = s.logs.find('replaying after upstream 401')
  t.equal(replays.length, 1)
  t.match(replays[0]!.reqId, /^req-/, 'the line carries fastify\'s request id')
})
