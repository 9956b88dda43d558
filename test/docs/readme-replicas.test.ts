// The README's "Running many replicas" examples: the cache block is a valid config, and the Kubernetes manifests validate.
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { Service } from 'kubernetes-models/v1/Service'
import { parseConfig } from '../../src/configuration.js'

const readme = readFileSync('README.md', 'utf8')
const section = readme.slice(readme.indexOf('## Running many replicas'), readme.indexOf('## Configuration'))
const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)

t.test('the cache block, with its secret files in place, is a valid config', async (t) => {
  const block = blocks.find((b) => b.startsWith('cache:'))
  t.ok(block, 'the README shows the cache block')
  const dir = t.testdir({})
  // Each `{ file: /run/secrets/... }` becomes a file here holding what it would hold.
  const text = block!.replace(/\{ file: (\S+) \}/g, (_m, path: string) => {
    const file = join(dir, path.replace(/\W+/g, '_'))
    writeFileSync(file, path.includes('key') ? randomBytes(32).toString('base64') : 'redis-password')
    return `{ file: ${file} }`
  })
  const config = parseConfig(JSON.stringify({
    credentials: { registry: { type: 'keycloak', url: 'https://kc.example.org', realm: 'r', clientId: 'c', clientSecret: 's' } },
    upstreams: { registry: { target: 'https://registry.example.org', credential: 'registry', prefix: '/registry' } },
    ...parse(text) as Record<string, unknown>,
  }), {})
  t.match(config.cache?.redis.url, /^redis:\/\//)
  t.equal(config.cache?.redis.keyPrefix, 'tokenproxy:')
})

t.test('the Kubernetes example: a Redis Deployment and Service, and 50 replicas sharing it, all valid', async (t) => {
  const block = blocks.find((b) => b.includes('kind: Deployment'))
  t.ok(block, 'the README shows the manifests')
  const docs = parseAllDocuments(block!).map((d) => d.toJS() as Record<string, any>)
  t.same(docs.map((d) => d.kind), ['Deployment', 'Service', 'Deployment'])
  for (const doc of docs) {
    const model = doc.kind === 'Service' ? new Service(doc) : new Deployment(doc)
    t.doesNotThrow(() => model.validate(), `${doc.kind} ${doc.metadata.name}`)
  }
  const app = docs[2]!
  t.equal(app.spec.replicas, 50)
  const sidecar = app.spec.template.spec.initContainers[0]
  t.equal(sidecar.restartPolicy, 'Always', 'a native sidecar')
  const mounted = new Set(sidecar.volumeMounts.map((m: { name: string }) => m.name))
  t.ok(['config', 'registry', 'redis', 'cache'].every((v) => mounted.has(v)), 'config, client secret, Redis password and cache key mounted')
  t.equal(docs[1]!.metadata.name, 'redis', 'the Service the config\'s url names')
})
