// docker-compose.yml passes dclint (compose-spec schema and every rule) with no error or warning; broken copies fail it.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { DCLinter } from 'dclint'
import { ROOT, text } from './files.js'

/** Every dclint rule at its default level (none disabled). */
function lint (file: string): { errors: string[], warnings: string[] } {
  const [result] = new DCLinter({ rules: {}, quiet: false, debug: false, exclude: [] }).lintFiles([file], false)
  if (result === undefined) throw new Error(`dclint did not lint ${file}`)
  // dclint's published types leave messages untyped: its RuleMessage, as far as used here.
  const messages = result.messages as Array<{ rule: string, type: string, message: string }>
  const show = (type: string): string[] => messages.filter((m) => m.type === type).map((m) => `${m.rule}: ${m.message}`)
  return { errors: show('error'), warnings: show('warning') }
}

const COMPOSE = text('docker-compose.yml')

function brokenCopy (t: Test, from: string | RegExp, to: string): string {
  const broken = COMPOSE.replace(from, to)
  t.not(broken, COMPOSE, `the copy differs: ${String(from)} -> ${to}`)
  const file = join(t.testdir({}), 'docker-compose.yml')
  writeFileSync(file, broken)
  return file
}

t.test('docker-compose.yml: no error, no warning', async (t) => {
  const { errors, warnings } = lint(join(ROOT, 'docker-compose.yml'))
  t.same(errors, [])
  t.same(warnings, [])
})

t.test('a depends_on condition outside the compose spec fails the schema', async (t) => {
  const { errors } = lint(brokenCopy(t, 'condition: service_healthy', 'condition: bogus'))
  t.match(errors.join('\n'), /invalid-schema/)
})

t.test('an unknown service key fails the schema', async (t) => {
  const { errors } = lint(brokenCopy(t, /^ {4}healthcheck:/m, '    helthcheck:'))
  t.match(errors.join('\n'), /invalid-schema/)
})

t.test('a port published on every host interface fails', async (t) => {
  const { errors } = lint(brokenCopy(t, "'127.0.0.1:8080:8080'", "'8080:8080'"))
  t.match(errors.join('\n'), /no-unbound-port-interfaces/)
})

t.test('unparseable YAML fails', async (t) => {
  const { errors } = lint(brokenCopy(t, 'services:\n', 'services:\n  [\n'))
  t.match(errors.join('\n'), /invalid-yaml/)
})
