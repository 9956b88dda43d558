// config/systemd/tokenproxy.service: what the README shows, no trailing comments, and `systemd-analyze verify` finds nothing.
import { execFile } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { text } from './files.js'

const UNIT = 'config/systemd/tokenproxy.service'
const unit = text(UNIT)
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p))

t.test('the README shows the unit file exactly', async (t) => {
  const readme = text('README.md')
  const blocks = [...readme.matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1])
  t.ok(blocks.includes(unit), `an ini block in the README equals ${UNIT}`)
})

t.test('every comment is a line of its own (systemd has no trailing comments)', async (t) => {
  const settings = unit.split('\n').filter((l) => /^[A-Za-z]+=/.test(l))
  t.ok(settings.length > 8, `${settings.length} settings`)
  for (const line of settings) t.notMatch(line, /\s[#;]/, `${line.split('=')[0]}: no comment after the value`)
  t.match(unit, /^ExecStart=\/usr\/bin\/node \/opt\/tokenproxy\/dist\/cli\.js run --config \/etc\/tokenproxy\/config\.yaml$/m)
  t.match(unit, /^TimeoutStopSec=15$/m, 'longer than shutdown.grace (10 s)')
})

/** Warnings and errors `systemd-analyze verify` prints for a unit (empty: none), with node at this test's own path. */
async function verify (dir: string, content: string): Promise<string> {
  const file = join(dir, 'tokenproxy.service')
  // ExecStart must name an executable that exists here: the node running the tests, wherever it is.
  writeFileSync(file, content.replace('/usr/bin/node ', `${process.execPath} `))
  try {
    const { stdout, stderr } = await promisify(execFile)(ANALYZE!, ['verify', '--man=no', file], { timeout: 20_000 })
    return `${stdout}${stderr}`.trim()
  } catch (err) {
    const e = err as { stdout?: string, stderr?: string, message: string }
    return `${e.stdout ?? ''}${e.stderr ?? e.message}`.trim() || 'failed'
  }
}

const skip = ANALYZE === undefined ? 'systemd-analyze is not installed (Debian: apt-get install systemd); unit not verified' : false
t.test('systemd-analyze verify: no warning, no error', { skip }, async (t) => {
  const dir = t.testdir({})
  t.equal(await verify(dir, unit), '', `${UNIT} verifies cleanly`)
  // The check has teeth: the README's old form, a comment after a value, is reported.
  const broken = unit.replace(/^TimeoutStopSec=15$/m, 'TimeoutStopSec=15   # longer than shutdown.grace')
  t.match(await verify(t.testdir({}), broken), /Failed to parse time value/, 'a trailing comment is reported')
})
