// The image: maintained Node LTS base, the bundled CLI without node_modules, numeric non-root user, the default
// ports, a small build context.
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'
import { parseConfig } from '../../src/configuration.js'
import { dockerfileInstructions, MINIMAL_CONFIG, only, ROOT, runtimeStage, text } from './files.js'

const ALL = dockerfileInstructions(text('Dockerfile'))
const RUNTIME = runtimeStage()
const PKG = JSON.parse(text('package.json')) as { version: string, bin: Record<string, string> }

t.test('both stages use node:24-slim or a newer LTS slim image', async (t) => {
  const froms = ALL.filter((i) => i.keyword === 'FROM').map((i) => i.args.split(/\s+/)[0]!)
  t.equal(froms.length, 2, 'multi-stage: build, then runtime')
  for (const image of froms) {
    const m = /^node:(\d+)-slim(@sha256:[0-9a-f]{64})?$/.exec(image)
    t.ok(m, `${image} is a node:<major>-slim image`)
    const major = Number(m?.[1])
    t.ok(major >= 24 && major % 2 === 0, `${image}: an even (LTS) major >= 24 (Node 20 is end of life)`)
  }
})

t.test('the build stage bundles with dev dependencies; the runtime gets the bundle alone, no node_modules', async (t) => {
  const build = ALL.filter((i) => i.stage === 0)
  const run = build.filter((i) => i.keyword === 'RUN').map((i) => i.args).join(' && ')
  t.match(run, /npm ci\b/, 'npm ci (its prepare script runs tsc and the bundler)')
  t.notMatch(run, /--omit=dev|--production/, 'the build step has TypeScript and esbuild')
  const copies = RUNTIME.filter((i) => i.keyword === 'COPY').map((i) => i.args)
  t.ok(copies.includes('--from=build /app/dist/cli.js ./dist/cli.js'), 'the bundle comes from the build stage')
  t.ok(copies.includes('--from=build /app/package.json ./'), 'package.json: type module, and the version')
  t.notOk(copies.some((c) => c.includes('node_modules')), 'no node_modules: dist/cli.js carries its dependencies')
  t.notOk(RUNTIME.some((i) => i.keyword === 'RUN' && /npm (ci|install)/.test(i.args)), 'nothing is installed in the runtime stage')
  t.match(only(RUNTIME, 'ENV').args, /NODE_ENV=production/)
})

t.test('the runtime user is numeric and not root, so Kubernetes runAsNonRoot can verify it', async (t) => {
  const user = only(RUNTIME, 'USER').args
  const m = /^(\d+)(?::(\d+))?$/.exec(user)
  t.ok(m, `USER ${user} is numeric`)
  t.not(Number(m?.[1]), 0, 'not root')
  t.not(Number(m?.[2] ?? 1), 0, 'not the root group')
  t.ok(RUNTIME.findIndex((i) => i.keyword === 'USER') < RUNTIME.findIndex((i) => i.keyword === 'ENTRYPOINT'), 'set before the entrypoint')
})

t.test('the image exposes the default proxy and admin ports and carries OCI labels', async (t) => {
  const defaults = parseConfig(MINIMAL_CONFIG, {})
  const exposed = only(RUNTIME, 'EXPOSE').args.split(/\s+/).map(Number)
  t.same(exposed.sort(), [defaults.listen.port, defaults.admin.port].sort())
  const labels = only(RUNTIME, 'LABEL').args
  t.match(labels, /org\.opencontainers\.image\.title="tokenproxy"/)
  t.match(labels, `org.opencontainers.image.version="${PKG.version}"`)
  t.match(labels, /org\.opencontainers\.image\.licenses="Apache-2\.0"/)
})

/** Docker's .dockerignore semantics: the last pattern matching the path or one of its parents decides. */
function ignored (patterns: string[], path: string): boolean {
  const parts = path.split('/')
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
  let excluded = false
  for (const raw of patterns) {
    const negate = raw.startsWith('!')
    const pattern = (negate ? raw.slice(1) : raw).replace(/\/+$/, '')
    const glob = (part: string): string => part.split('*').map((p) => p.replace(/[.+^${}()|[\]\\?]/g, '\\$&')).join('[^/]*')
    const re = new RegExp(`^${pattern.split('**').map(glob).join('.*')}$`)
    if (candidates.some((c) => re.test(c))) excluded = !negate
  }
  return excluded
}

function walk (dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (['.git', 'node_modules', '.tap'].includes(entry.name)) out.push(relative(ROOT, join(full, 'x')))
      else walk(full, out)
    } else out.push(relative(ROOT, full))
  }
  return out
}

t.test('.dockerignore keeps the build context to what the build copies', async (t) => {
  const patterns = text('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const files = walk(ROOT)
  const context = files.filter((f) => !ignored(patterns, f))
  const neededFiles = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/cli.ts', 'config/registry.yaml']
  for (const needed of neededFiles) {
    t.ok(context.includes(needed), `${needed} is in the context`)
  }
  const keptOut = [
    'node_modules/x', '.git/x', 'test/deploy/files.ts', 'dist/cli.js', 'README.md', 'docker-compose.yml',
    'config/kubernetes/deployment.yaml',
  ]
  for (const kept of keptOut) {
    t.ok(ignored(patterns, kept), `${kept} stays out`)
  }
  const bytes = context.reduce((sum, f) => sum + statSync(join(ROOT, f)).size, 0)
  t.ok(bytes < 2_000_000, `context is ${Math.round(bytes / 1024)} KiB`)
  // Every path the build stage copies from the context exists in it.
  for (const copy of ALL.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
    const sources = copy.args.split(/\s+/).slice(0, -1)
    for (const src of sources) t.ok(context.some((f) => f === src || f.startsWith(`${src}/`)), `COPY source ${src} is in the context`)
  }
})
