// dist/cli.js is one self-contained file (the cold start), and its source map names only tokenproxy's own src/ files.
import { SourceMap } from 'node:module'
import { join } from 'node:path'
import t from 'tap'
import { text } from './files.js'

t.test('the built dist/cli.js is one file: no relative imports', async (t) => {
  const cli = text('dist/cli.js')
  // Plain includes(): a failing t.match would print the whole multi-megabyte file.
  t.ok(cli.startsWith('#!/usr/bin/env node\n'), 'still runs as a command')
  t.notOk(/^\s*import[^;]*from\s+['"]\.{1,2}\//m.test(cli), 'no import of another dist file')
  t.ok(cli.includes('node_modules/undici/lib/dispatcher/pool.js'), 'undici Pool is bundled')
  t.ok(cli.includes('node_modules/fastify/fastify.js'), 'fastify is bundled')
})

t.test('the source map names only src/ files, and still maps the bundle to them', async (t) => {
  const map = JSON.parse(text('dist/cli.js.map')) as { sources: string[] }
  t.ok(map.sources.length > 20 && map.sources.every((s) => s.startsWith('../src/')), `${map.sources.length} sources, all under src/`)
  const lines = text('dist/cli.js').split('\n')
  const generated = lines.findIndex((l) => l.startsWith('var isMain = process.argv[1]'))
  const original = text('src/cli.ts').split('\n').findIndex((l) => l.startsWith('const isMain = process.argv[1]'))
  t.ok(generated > 0 && original > 0)
  t.match(new SourceMap(map as never).findEntry(generated, 0),
    { originalSource: '../src/cli.ts', originalLine: original, originalColumn: 0 })
})

t.test('filterSourceMap keeps every mapping of the kept sources exactly, and drops the others', async (t) => {
  const { build } = await import('esbuild')
  const { filterSourceMap } = await import(new URL('../../scripts/bundle/source-map-filter.mjs', import.meta.url).href) as {
    filterSourceMap (map: object, keep: (s: string) => boolean): { sources: string[], mappings: string }
  }
  const dir = t.testdir({
    node_modules: { dep: { 'index.js': 'export function dep (x) {\n  const y = x * 2\n  return { y, name: "dep" }\n}\n' } },
    src: {
      'util.ts': 'export const twice = (n: number): number => {\n  const m = n + n\n  return m\n}\n',
      'main.ts': 'import { dep } from "dep"\nimport { twice } from "./util"\nconst value = twice(dep(21).y)\nconsole.log(value, "main")\n',
    },
  })
  const out = await build({
    entryPoints: [join(dir, 'src/main.ts')],
    bundle: true,
    write: false,
    sourcemap: 'external',
    outfile: join(dir, 'out.js'),
    format: 'esm',
    platform: 'node',
    nodePaths: [join(dir, 'node_modules')],
    logLevel: 'silent',
  })
  const raw = JSON.parse(out.outputFiles.find((f) => f.path.endsWith('.map'))!.text) as { sources: string[], mappings: string }
  const code = out.outputFiles.find((f) => f.path.endsWith('out.js'))!.text
  const filtered = filterSourceMap(raw, (s) => !s.includes('node_modules/'))
  t.same(filtered.sources, raw.sources.filter((s) => !s.includes('node_modules/')), 'the dependency is gone from sources')
  t.ok(raw.sources.some((s) => s.includes('node_modules/dep')), 'and was there before')
  const before = new SourceMap(raw as never)
  const after = new SourceMap(filtered as never)
  let kept = 0
  let dropped = 0
  code.split('\n').forEach((line, l) => {
    for (let c = 0; c < line.length; c++) {
      const a = before.findEntry(l, c) as { generatedLine?: number, generatedColumn?: number, originalSource?: string }
      if (a.originalSource === undefined || a.generatedLine !== l || a.generatedColumn !== c) continue
      const b = after.findEntry(l, c) as typeof a
      if (a.originalSource.includes('node_modules/')) {
        dropped++
        t.not(b.originalSource?.includes('node_modules/'), true, `${l}:${c} no longer maps into node_modules`)
      } else {
        kept++
        t.same(b, a, `${l}:${c} maps as before`)
      }
    }
  })
  t.ok(kept > 5 && dropped > 2, `${kept} kept mappings, ${dropped} dropped`)
})
