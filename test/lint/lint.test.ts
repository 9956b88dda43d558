// The code passes its linter (eslint.config.js: neostandard, lines up to 140 characters) and keeps the boundaries
// between the folders of src/ (.dependency-cruiser.cjs); a small tree that breaks each boundary fails every rule.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'

const ROOT = new URL('../../', import.meta.url).pathname
const ESLINT = join(ROOT, 'node_modules/eslint/bin/eslint.js')
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs')
const CONFIG = join(ROOT, '.dependency-cruiser.cjs')

interface Run { status: number | null, stdout: string, stderr: string }

function run (script: string, args: string[], cwd: string): Run {
  const r = spawnSync(process.execPath, [script, ...args], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

interface Cruise {
  modules: Array<{ source: string, dependencies: Array<{ module: string, couldNotResolve: boolean }> }>
  summary: { violations: Array<{ from: string, to: string, rule: { name: string, severity: string } }> }
}

/** dependency-cruiser over cwd's src/ with the project's rules, as JSON. */
function cruise (cwd: string): { result: Cruise, stderr: string } {
  const r = run(DEPCRUISE, ['src', '--config', CONFIG, '--output-type', 'json'], cwd)
  return { result: JSON.parse(r.stdout) as Cruise, stderr: r.stderr }
}

const violations = (result: Cruise): string[] =>
  result.summary.violations.map((v) => `${v.rule.severity} ${v.rule.name}: ${v.from} -> ${v.to}`).sort()

t.test('eslint: no error and no warning in src/, test/, scripts/ and the top-level config files', async (t) => {
  const r = run(ESLINT, ['--max-warnings', '0', '.'], ROOT)
  t.equal(r.stderr, '', 'eslint prints nothing on stderr')
  t.equal(r.stdout, '', 'eslint reports no problem')
  t.equal(r.status, 0, 'eslint exits 0')
})

t.test('dependency-cruiser: src/ keeps every boundary, and every import in it resolves', async (t) => {
  const { result, stderr } = cruise(ROOT)
  t.same(violations(result), [], 'no violation')
  t.equal(stderr, '', 'depcruise prints nothing on stderr')
  const unresolved = result.modules.flatMap((m) => m.dependencies.filter((d) => d.couldNotResolve).map((d) => `${m.source} -> ${d.module}`))
  t.same(unresolved, [], 'every import resolves (a `./x.js` specifier to its `./x.ts` file), so no dependency escapes the rules')
  t.ok(result.modules.filter((m) => m.source.startsWith('src/')).length > 40, 'the cruise saw the files of src/')
})

t.test('dependency-cruiser: a tree that breaks each boundary fails each rule', async (t) => {
  const dir = t.testdir({})
  const write = (rel: string, text: string): void => {
    mkdirSync(dirname(join(dir, rel)), { recursive: true })
    writeFileSync(join(dir, rel), text)
  }
  copyFileSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'))
  for (const name of ['fastify', '@fastify/http-proxy', 'fastify-plugin']) {
    write(`node_modules/${name}/package.json`, JSON.stringify({ name, main: 'index.js' }))
    write(`node_modules/${name}/index.js`, 'module.exports = {}\n')
  }
  for (const file of ['server', 'cli', 'reload', 'errors']) write(`src/${file}.ts`, 'export type T = 1\nexport const x = 1\n')
  for (const folder of ['credentials', 'tokens', 'proxy', 'observability', 'commands', 'demo']) {
    write(`src/${folder}/types.ts`, 'export type T = 1\n')
  }
  write('src/observability/log.ts', 'export const log = 1\n')
  write('src/proxy/headers.ts', 'export const headers = 1\n')
  // proxy -> credentials -> proxy: a cycle between the two folders, though not between files.
  write('src/proxy/route.ts', "import { secret } from '../credentials/secret.js'\nexport const route = secret\n")
  write('src/credentials/secret.ts', [
    "import type { FastifyInstance } from 'fastify'",
    "import proxy from '@fastify/http-proxy'",
    "import plugin from 'fastify-plugin'",
    "import { log } from '../observability/log.js'",
    "import { headers } from '../proxy/headers.js'",
    'export const secret: FastifyInstance | number = headers + log + proxy + plugin',
  ].join('\n'))
  // Type-only imports, each from a runtime module; errors.ts is no runtime module.
  const runtime = ['credentials/types', 'tokens/types', 'proxy/types', 'observability/types', 'commands/types', 'demo/types', 'server',
    'cli', 'reload']
  write('src/config/load.ts', [
    ...runtime.map((m, i) => `import type { T as T${i} } from '../${m}.js'`),
    "import { x } from '../errors.js'",
    `export type All = ${runtime.map((_, i) => `T${i}`).join(' | ')}`,
    'export const load = x',
  ].join('\n'))
  write('src/tokens/store.ts', "import { log } from '../observability/log.js'\nexport const store = log\n")
  write('src/tokens/a.ts', "import { b } from './b.js'\nexport const a = (): unknown => b\n")
  write('src/tokens/b.ts', "import { a } from './a.js'\nexport const b = (): unknown => a\n")

  const { result } = cruise(dir)
  const credentials = 'error credentials-not-to-fastify-proxy-observability: src/credentials/secret.ts'
  t.same(violations(result), [
    ...runtime.map((m) => `error config-not-to-runtime: src/config/load.ts -> src/${m}.ts`),
    `${credentials} -> node_modules/@fastify/http-proxy/index.js`,
    `${credentials} -> node_modules/fastify-plugin/index.js`,
    `${credentials} -> node_modules/fastify/index.js`,
    `${credentials} -> src/observability/log.ts`,
    `${credentials} -> src/proxy/headers.ts`,
    'error no-circular-folders: src/credentials -> src/proxy',
    'error no-circular-folders: src/proxy -> src/credentials',
    'error no-circular: src/tokens/a.ts -> src/tokens/b.ts',
    'error proxy-not-to-credentials: src/proxy/route.ts -> src/credentials/secret.ts',
    'error tokens-not-to-observability: src/tokens/store.ts -> src/observability/log.ts',
  ].sort(), 'each rule names each import that breaks it, and nothing else')
})
