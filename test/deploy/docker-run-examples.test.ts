// The `docker run ... check` lines of the README and the Dockerfile work as written, in the image's file tree; the Dockerfile's header
// describes the image it builds.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { imageTree, runtimeStage, text } from './files.js'

/** Every `docker run ... IMAGE check ...` in the text: its -e variables and the arguments after the image. */
function checkLines (source: string): Array<{ line: string, env: Record<string, string>, args: string[] }> {
  return [...source.matchAll(/docker run ([^`\n]*?\bcheck --config [^\s`]+)/g)].map((m) => {
    const words = m[1]!.split(/\s+/)
    const env: Record<string, string> = {}
    let i = 0
    for (; i < words.length && words[i]!.startsWith('-'); i++) {
      if (words[i] === '-e') {
        const [name, ...value] = words[++i]!.split('=')
        env[name!] = value.join('=')
      }
    }
    return { line: m[0], env, args: words.slice(i + 1) }
  })
}

t.test('each `docker run ... check` line, run as written against the image\'s files, exits 0', async (t) => {
  const lines = [...checkLines(text('README.md')), ...checkLines(text('Dockerfile'))]
  t.ok(lines.length >= 2, `${lines.length} lines (README and Dockerfile)`)
  const app = imageTree(mkdtempSync(join(tmpdir(), 'tokenproxy-image-')))
  t.teardown(() => rmSync(app, { recursive: true, force: true }))
  for (const { line, env, args } of lines) {
    // The container's environment is the image's plus the -e flags; nothing of this shell's.
    const r = await new Promise<{ code: number, err: string }>((resolve) => {
      execFile(process.execPath, ['dist/cli.js', ...args], { cwd: app, env: { PATH: process.env.PATH, ...env } }, (err, _out, stderr) => {
        resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, err: stderr })
      })
    })
    t.equal(r.code, 0, `${line}${r.err === '' ? '' : `: ${r.err.trim()}`}`)
  }
})

t.test('the Dockerfile\'s header describes the image: one bundled file, no node_modules', async (t) => {
  const header = text('Dockerfile').split('\n').filter((l) => l.startsWith('#')).slice(0, 12).join('\n')
  t.notMatch(header, /production (ones|dependencies)/, 'no production dependencies: the runtime stage has none')
  t.match(header, /no node_modules/)
  t.notOk(runtimeStage().some((i) => i.keyword === 'COPY' && i.args.includes('node_modules')), 'and indeed copies none')
})
