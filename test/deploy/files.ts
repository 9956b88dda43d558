// Readers for the deployment files (Dockerfile, docker-compose.yml, realm import, Kubernetes manifests) shared by test/deploy.
import { cpSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'

export const ROOT = new URL('../../', import.meta.url).pathname
export const K8S_DIR = join(ROOT, 'config/kubernetes')

export function text (rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8')
}

export function yaml<T = Record<string, any>> (rel: string): T {
  return parse(text(rel)) as T
}

/** One Dockerfile instruction, continuation lines joined, with the build stage it belongs to. */
export interface Instruction { keyword: string, args: string, stage: number, line: number }

export function dockerfileInstructions (source: string): Instruction[] {
  const out: Instruction[] = []
  let stage = -1
  let pending: { text: string, line: number } | undefined
  source.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (pending === undefined && (line === '' || line.startsWith('#'))) return
    if (pending !== undefined && line.startsWith('#')) return // comments inside a continued instruction
    const joined = pending === undefined ? { text: line, line: i + 1 } : { text: `${pending.text} ${line}`, line: pending.line }
    if (joined.text.endsWith('\\')) {
      pending = { text: joined.text.slice(0, -1).trimEnd(), line: joined.line }
      return
    }
    pending = undefined
    const [keyword = '', ...rest] = joined.text.split(/\s+/)
    if (keyword.toUpperCase() === 'FROM') stage++
    out.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), stage, line: joined.line })
  })
  return out
}

/** The JSON (exec) form of an instruction's arguments, after any --flags; throws on the shell form. */
export function execForm (args: string): string[] {
  const start = args.indexOf('[')
  if (start < 0) throw new Error(`not in exec form: ${args}`)
  return JSON.parse(args.slice(start)) as string[]
}

/** The runtime (last) stage's instructions of the repository's Dockerfile. */
export function runtimeStage (): Instruction[] {
  const all = dockerfileInstructions(text('Dockerfile'))
  const last = Math.max(...all.map((i) => i.stage))
  return all.filter((i) => i.stage === last)
}

export function only (instructions: Instruction[], keyword: string): Instruction {
  const found = instructions.filter((i) => i.keyword === keyword)
  if (found.length !== 1) throw new Error(`expected one ${keyword}, found ${found.length}`)
  return found[0]!
}

/** The runtime stage's files, laid out as its COPY lines put them under WORKDIR: no node_modules. */
export function imageTree (dir: string): string {
  for (const copy of runtimeStage().filter((i) => i.keyword === 'COPY')) {
    const words = copy.args.split(/\s+/)
    const fromBuild = words[0] === '--from=build'
    const [src, dest] = fromBuild ? [words[1]!.replace(/^\/app\//, ''), words[2]!] : [words[0]!, words[1]!]
    const to = join(dir, dest)
    if (dest.endsWith('/')) mkdirSync(to, { recursive: true })
    cpSync(join(ROOT, src), dest.endsWith('/') ? join(to, basename(src)) : to, { recursive: true })
  }
  return dir
}

/** Every document of every manifest in config/kubernetes, with the file it came from. */
export function kubernetesDocuments (): Array<{ file: string, doc: Record<string, any> }> {
  return readdirSync(K8S_DIR).filter((f) => f.endsWith('.yaml')).sort().flatMap((file) =>
    parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'))
      .map((d) => ({ file, doc: d.toJS() as Record<string, any> }))
      .filter(({ doc }) => doc !== null))
}

export function kubernetesDocument (kind: string, name?: string): Record<string, any> {
  const found = kubernetesDocuments().filter(({ doc }) => doc.kind === kind && (name === undefined || doc.metadata?.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`)
  return found[0]!.doc
}

/** The smallest valid config: everything else at its default. */
export const MINIMAL_CONFIG = `
credentials: { c: { type: keycloak, tokenUrl: "https://idp.example.org/token", clientId: c, clientSecret: s } }
upstreams: { u: { target: "https://up.example.org", credential: c, prefix: /u } }
`
