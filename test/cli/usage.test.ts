// CLI usage: a flag a command does not take is exit 2 with "did you mean"; `help`, `CMD --help`; TOKENPROXY_LOG_LEVEL.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { cli } from '../../src/cli.js'
import { USAGE } from '../../src/commands/usage.js'

async function run (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number, out: string, err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await cli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

t.test('a flag the command does not take is a usage error, exit 2, before anything runs', async (t) => {
  const cases: Array<[string[], string]> = [
    [['run', '--config', '/nonexistent.yaml', '--port', '1'], 'run does not take --port (--port belongs to demo)'],
    [['--config', '/nonexistent.yaml', '--admin-port', '1'], 'run does not take --admin-port (--admin-port belongs to demo)'],
    [['check', '--config', '/nonexistent.yaml', '--raw'], 'check does not take --raw (--raw belongs to token)'],
    [['demo', '--config', '/nonexistent.yaml'], 'demo does not take --config (--config belongs to run, check, token)'],
    [['token', 'x', '--config=/nonexistent.yaml', '--port=1'], 'token does not take --port (--port belongs to demo)'],
  ]
  for (const [argv, message] of cases) {
    const r = await run(argv)
    t.equal(r.code, 2, `${argv.join(' ')}: exit 2`)
    t.match(r.err, `tokenproxy: ${message}`, argv.join(' '))
    t.notMatch(r.err, 'cannot read', `${argv.join(' ')}: refused before the config is read`)
    t.match(r.err, /^usage: tokenproxy /m, 'with that command\'s usage')
  }
})

t.test('a mistyped flag or command: "did you mean", not parseArgs\' text', async (t) => {
  const flag = await run(['check', '--confg', 'x.yaml'])
  t.equal(flag.code, 2)
  t.match(flag.err, 'tokenproxy: check does not take --confg: did you mean --config?')
  t.notMatch(flag.err, /To specify a positional argument/)
  const raw = await run(['token', 'registry', '--row'])
  t.match(raw.err, 'did you mean --raw?')
  const command = await run(['chek', '--config', 'x.yaml'])
  t.equal(command.code, 2)
  t.match(command.err, 'unknown command "chek": did you mean "check"?')
  const far = await run(['check', '--frobnicate'])
  t.equal(far.code, 2)
  t.notMatch(far.err, 'did you mean', 'no guess when nothing is close')
  const missing = await run(['check', '--config'])
  t.equal(missing.code, 2, 'a flag without its value')
  t.match(missing.err, /--config <value>' argument missing/)
})

t.test('help: the overview, per-command usage and the environment variables', async (t) => {
  const overview = await run(['help'])
  t.equal(overview.code, 0)
  for (const cmd of ['run', 'check', 'token', 'demo', 'help']) {
    t.match(overview.out, new RegExp(`^ {2}tokenproxy (\\[${cmd}\\]|${cmd})`, 'm'), `lists ${cmd}`)
  }
  for (const v of ['TOKENPROXY_CONFIG', 'TOKENPROXY_LOG_LEVEL']) t.match(overview.out, v)
  t.equal((await run(['--help'])).out, overview.out, '--help is the same text')

  const token = await run(['token', '--help'])
  t.equal(token.code, 0, 'CMD --help exits 0 without the NAME')
  t.match(token.out, /^usage: tokenproxy token NAME --config FILE \[--raw\]$/m)
  t.match(token.out, /^ {2}--raw +print only the token/m)
  t.notMatch(token.out, '--port', 'only that command\'s flags')
  t.equal((await run(['help', 'token'])).out, token.out, '`help token` is the same text')
  const demo = await run(['demo', '-h'])
  t.match(demo.out, /--admin-port N/)
  t.notMatch(demo.out, '--config')
  const unknown = await run(['help', 'tokn'])
  t.equal(unknown.code, 2)
  t.match(unknown.err, 'no command "tokn": did you mean "token"?')
})

t.test('TOKENPROXY_LOG_LEVEL overrides log.level; an unknown level is a usage error', async (t) => {
  const file = join(t.testdir({}), 'tokenproxy.yaml')
  writeFileSync(file, JSON.stringify({
    credentials: { r: { type: 'keycloak', tokenUrl: 'http://127.0.0.1:9/token', clientId: 'x', clientSecret: 'y' } },
    upstreams: { r: { target: 'http://127.0.0.1:9', credential: 'r', prefix: '/r' } },
  }))
  const bad = await run(['run', '--config', file], { TOKENPROXY_LOG_LEVEL: 'verbose' })
  t.equal(bad.code, 2)
  t.match(bad.err, 'TOKENPROXY_LOG_LEVEL: "verbose" is not one of fatal, error, warn, info, debug, trace, silent')
})

t.test('every environment variable the help names is in the README\'s table', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const named = [...new Set([...USAGE.matchAll(/\b(TOKENPROXY_[A-Z_]+|NO_COLOR)\b/g)].map((m) => m[1]!))]
  t.ok(named.length >= 3, named.join(', '))
  for (const v of named) t.match(readme, new RegExp(`^\\| \`${v}\` \\| `, 'm'), `${v} documented`)
})
