// dist/cli.js is one self-contained file (the cold start), and its slim undici gives every name that
// tokenproxy and @fastify/reply-from take from undici, as undici's own objects.
import { createRequire } from 'node:module'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ROOT, text } from './files.js'

const require = createRequire(join(ROOT, 'package.json'))
const lite = require('./src/bundle/undici-lite.cjs') as Record<string, unknown>
const full = require('undici') as Record<string, unknown>

/** Value imports `import { A, B, type C } from 'undici'` in src/, without the type-only ones. */
function namesImportedBySrc (dir = join(ROOT, 'src')): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) { out.push(...namesImportedBySrc(path)); continue }
    if (!entry.name.endsWith('.ts')) continue
    const src = text(path.slice(ROOT.length))
    for (const m of src.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+'undici'/g)) {
      if (m[1] !== undefined) continue
      out.push(...m[2]!.split(',').map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('type ')))
    }
  }
  return out
}

t.test('every undici name used by src/ and by @fastify/reply-from is in undici-lite, and is undici\'s own', async (t) => {
  const replyFrom = text('node_modules/@fastify/reply-from/lib/request.js')
  const used = new Set([...namesImportedBySrc(), ...[...replyFrom.matchAll(/undici\.(\w+)/g)].map((m) => m[1]!)])
  t.ok(used.has('Agent') && used.has('Pool'), `names found: ${[...used].join(', ')}`)
  for (const name of used) {
    t.ok(lite[name] !== undefined, `undici-lite exports ${name}`)
    t.equal(lite[name], full[name], `${name} is the same object as undici's`)
  }
  // Dispatchers answer request() as with the full index (idp-http.ts calls dispatcher.request()).
  t.equal(typeof (lite.Agent as { prototype: { request?: unknown } }).prototype.request, 'function')
})

t.test('the built dist/cli.js is one file: no relative imports, no undici fetch/WebSocket', async (t) => {
  const cli = text('dist/cli.js')
  // Plain includes(): a failing t.match would print the whole 2.8 MB file.
  t.ok(cli.startsWith('#!/usr/bin/env node\n'), 'still runs as a command')
  t.notOk(/^\s*import[^;]*from\s+['"]\.{1,2}\//m.test(cli), 'no import of another dist file')
  t.notOk(cli.includes('node_modules/undici/lib/web/fetch/index.js'), 'undici fetch() is not bundled')
  t.notOk(cli.includes('node_modules/undici/lib/web/websocket/websocket.js'), 'undici WebSocket is not bundled')
  t.ok(cli.includes('node_modules/undici/lib/dispatcher/pool.js'), 'undici Pool is bundled')
  t.ok(cli.includes('node_modules/fastify/fastify.js'), 'fastify is bundled')
})
