// Bundles the CLI into one file, dist/cli.js (run after tsc, which type-checks and emits the rest of dist/).
// One file instead of hundreds of modules: `tokenproxy run` starts listening sooner.
import { build } from 'esbuild'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { filterSourceMap } from './source-map-filter.mjs'

const here = (p) => fileURLToPath(new URL(p, import.meta.url))

await build({
  entryPoints: [here('../../src/cli.ts')],
  outfile: here('../../dist/cli.js'),
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // Not minified: stack traces stay readable, and minified code started no faster here. The source
  // map (dist/cli.js.map, not shipped) maps the bundle to src/ (only) for test coverage and --enable-source-maps.
  sourcemap: true,
  // CommonJS dependencies call require(); an ES module has none of its own.
  banner: {
    js: "import { createRequire as __tokenproxyRequire } from 'node:module'; " +
      'const require = __tokenproxyRequire(import.meta.url);',
  },
})

// Only tokenproxy's own files stay in the map: see source-map-filter.mjs.
const mapFile = here('../../dist/cli.js.map')
const map = JSON.parse(readFileSync(mapFile, 'utf8'))
writeFileSync(mapFile, JSON.stringify(filterSourceMap(map, (source) => !source.includes('node_modules/'))))
