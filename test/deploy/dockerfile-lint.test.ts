// The Dockerfile passes dockerfile-utils' validator with every check raised to an error, and broken copies fail it.
import t from 'tap'
import { validate, ValidationSeverity, type ValidatorSettings } from 'dockerfile-utils'
import { text } from './files.js'

const STRICT: ValidatorSettings = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
}

function problems (source: string): string[] {
  return validate(source, STRICT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)
}

const DOCKERFILE = text('Dockerfile')

t.test('the Dockerfile has no problem at all', async (t) => {
  t.same(problems(DOCKERFILE), [])
})

t.test('a copy without FROM fails', async (t) => {
  const broken = DOCKERFILE.replace(/^FROM .*$/gm, '')
  t.not(broken, DOCKERFILE)
  t.match(problems(broken).join('\n'), /No source image provided with `FROM`/)
})

t.test('a copy with an unknown instruction fails', async (t) => {
  const broken = DOCKERFILE.replace(/^USER /m, 'RUNAS ')
  t.not(broken, DOCKERFILE)
  t.match(problems(broken).join('\n'), /Unknown instruction: RUNAS/)
})

t.test('a copy with a misspelt HEALTHCHECK flag fails', async (t) => {
  const broken = DOCKERFILE.replace('--interval=', '--intervall=')
  t.not(broken, DOCKERFILE)
  t.match(problems(broken).join('\n'), /Unknown flag: intervall/)
})

t.test('a copy with a second ENTRYPOINT fails', async (t) => {
  const broken = `${DOCKERFILE}\nENTRYPOINT ["node"]\n`
  t.ok(problems(broken).length > 0, problems(broken).join('; '))
})
