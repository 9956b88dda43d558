// The npm package holds only what runs (compiled JS, example configs, README, LICENSE) and declares its engines and license.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { ROOT, text } from './files.js'

const PKG = JSON.parse(text('package.json')) as {
  bin: Record<string, string>
  main: string
  engines: { node: string }
  license: string
  files: string[]
}

interface Packed { entryCount: number, size: number, files: Array<{ path: string }> }

t.test('`npm pack` lists only dist/**/*.js, config/*.yaml, README.md, LICENSE and package.json', async (t) => {
  // --ignore-scripts: pack what is built, without running `prepare` (tsc) again.
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'],
    { cwd: ROOT, maxBuffer: 8 * 1024 * 1024 })
  const [packed] = JSON.parse(stdout) as Packed[]
  const paths = packed!.files.map((f) => f.path)
  const allowed = (p: string): boolean =>
    ['package.json', 'README.md', 'LICENSE'].includes(p) || /^config\/[^/]+\.yaml$/.test(p) || /^dist\/.+\.js$/.test(p)
  t.same(paths.filter((p) => !allowed(p)), [], 'nothing else')
  for (const p of ['package.json', 'README.md', 'LICENSE', 'config/registry.yaml', PKG.bin.tokenproxy!.replace(/^\.\//, ''), PKG.main]) {
    t.ok(paths.includes(p), `${p} is in the package`)
  }
  t.notOk(paths.some((p) => p.startsWith('config/kubernetes/') || p.startsWith('config/keycloak/')),
    'deployment files stay in the repository')
  // dist/cli.js is a self-contained bundle (about 3.9 MB, 0.8 MB packed) for a fast cold start: a bound on
  // what ships, with room for dependency updates, not a size target.
  t.ok(packed!.size < 900_000, `packed size ${packed!.size} bytes from ${packed!.entryCount} files`)
  t.match(readFileSync(join(ROOT, PKG.bin.tokenproxy!), 'utf8'), /^#!\/usr\/bin\/env node\n/, 'the bin runs as a command')
})

t.test('engines and license are declared', async (t) => {
  t.equal(PKG.engines.node, '^20.18.1 || >=22', 'what the production dependencies run on: see test/deploy/engines.test.ts')
  t.equal(PKG.license, 'Apache-2.0')
  t.match(text('LICENSE'), /Apache License\s+Version 2\.0, January 2004/)
})
