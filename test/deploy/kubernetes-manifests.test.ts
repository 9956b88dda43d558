// Every manifest in config/kubernetes validates against the Kubernetes API schemas (kubernetes-models); broken copies do not.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parseAllDocuments } from 'yaml'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Secret } from 'kubernetes-models/v1/Secret'
import { K8S_DIR, text } from './files.js'

interface Model { apiVersion: string, kind: string, validate: () => void }
const MODELS: Record<string, new (data: any) => Model> = {
  'apps/v1/Deployment': Deployment,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
}

/** Validates every object in a manifest file; resolves the problems found, one line each. */
function problems (file: string): string[] {
  const out: string[] = []
  for (const [i, d] of parseAllDocuments(readFileSync(file, 'utf8')).entries()) {
    if (d.errors.length > 0) {
      out.push(`document ${i}: ${d.errors[0]!.message}`)
      continue
    }
    const doc = d.toJS() as Record<string, any> | null
    if (doc === null) continue
    const Ctor = MODELS[`${doc.apiVersion}/${doc.kind}`]
    if (Ctor === undefined) {
      out.push(`document ${i}: no model for ${doc.apiVersion} ${doc.kind}`)
      continue
    }
    const model = new Ctor(doc)
    if (model.apiVersion !== doc.apiVersion || model.kind !== doc.kind) out.push(`document ${i}: apiVersion/kind changed by the model`)
    try {
      model.validate()
    } catch (err) {
      out.push(`document ${i} (${doc.kind} ${doc.metadata?.name}): ${(err as Error).message}`)
    }
  }
  return out
}

const FILES = readdirSync(K8S_DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()

t.test('every manifest is valid', async (t) => {
  t.ok(FILES.includes('deployment.yaml') && FILES.includes('configmap.yaml'), FILES.join(', '))
  for (const f of FILES) t.same(problems(join(K8S_DIR, f)), [], f)
})

t.test('kustomization.yaml lists every manifest but the example Secret', async (t) => {
  const [kustomization] = parseAllDocuments(text('config/kubernetes/kustomization.yaml'))
    .map((d) => d.toJS() as { apiVersion: string, kind: string, resources: string[] })
  t.equal(kustomization?.apiVersion, 'kustomize.config.k8s.io/v1beta1')
  t.equal(kustomization?.kind, 'Kustomization')
  t.same([...(kustomization?.resources ?? [])].sort(), FILES.filter((f) => !f.includes('.example.')),
    'so `kubectl apply -k` never overwrites the real Secret')
})

function brokenCopy (t: Test, file: string, from: string | RegExp, to: string): string {
  const source = text(`config/kubernetes/${file}`)
  const broken = source.replace(from, to)
  t.not(broken, source, `the copy differs: ${String(from)} -> ${to}`)
  const path = join(t.testdir({}), file)
  writeFileSync(path, broken)
  return path
}

t.test('a Deployment with replicas: "two" fails', async (t) => {
  t.match(problems(brokenCopy(t, 'deployment.yaml', /replicas: 1$/m, 'replicas: "two"')).join('\n'), /\/spec\/replicas must be integer/)
})

t.test('a container without a name fails', async (t) => {
  t.match(problems(brokenCopy(t, 'deployment.yaml', '- name: app\n', '- stdin: false\n')).join('\n'),
    /containers\/0 must have required property name/)
})

t.test('a probe with a port that is neither a number nor a name fails', async (t) => {
  t.ok(problems(brokenCopy(t, 'deployment.yaml', /port: admin$/m, 'port: [9901]')).length > 0)
})

t.test('a ConfigMap whose data is not a map of strings fails', async (t) => {
  t.ok(problems(brokenCopy(t, 'configmap.yaml', 'data:\n  config.yaml: |',
    'data:\n  config.yaml:\n    nested: true\n  other: |')).length > 0)
})
