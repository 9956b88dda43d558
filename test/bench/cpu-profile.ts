// Reads a V8 .cpuprofile (node --cpu-prof): self time by function and by package, to see where a request's CPU goes.
import { readFileSync } from 'node:fs'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export interface SelfTime { name: string, where: string, ms: number, share: number }

/** `node_modules/fastify/lib/x.js` -> `fastify`, `node:internal/...` -> `node`, our dist -> `tokenproxy`. */
export function packageOf (url: string): string {
  if (url === '') return '(native/V8)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm !== null) return nm[1]!
  if (url.startsWith('node:')) return 'node (core)'
  if (url.includes('/dist/')) return 'tokenproxy'
  return url
}

function shortWhere (url: string, line: number): string {
  if (url === '') return ''
  const nm = url.lastIndexOf('node_modules/')
  const tail = nm >= 0 ? url.slice(nm + 'node_modules/'.length) : url.replace(/^file:\/\/.*\/dist\//, 'dist/')
  return `${tail}:${line + 1}`
}

/** Self time per function (top `n`) and per package, in ms and as a share of all samples. */
export function selfTimes (file: string, n = 10): { total: number, functions: SelfTime[], packages: SelfTime[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const perNode = new Map<number, number>()
  profile.samples.forEach((id, i) => perNode.set(id, (perNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const fns = new Map<string, SelfTime>()
  const pkgs = new Map<string, SelfTime>()
  let total = 0
  for (const [id, us] of perNode) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame
    total += us
    const name = functionName === '' ? '(anonymous)' : functionName
    const key = `${name} ${url}:${lineNumber}`
    const f = fns.get(key) ?? { name, where: shortWhere(url, lineNumber), ms: 0, share: 0 }
    f.ms += us / 1000
    fns.set(key, f)
    const pkg = name.startsWith('(') && url === '' ? name : packageOf(url)
    const p = pkgs.get(pkg) ?? { name: pkg, where: '', ms: 0, share: 0 }
    p.ms += us / 1000
    pkgs.set(pkg, p)
  }
  const ranked = (m: Map<string, SelfTime>): SelfTime[] =>
    [...m.values()].map((s) => ({ ...s, share: s.ms / (total / 1000) })).sort((a, b) => b.ms - a.ms)
  return { total: total / 1000, functions: ranked(fns).slice(0, n), packages: ranked(pkgs) }
}
