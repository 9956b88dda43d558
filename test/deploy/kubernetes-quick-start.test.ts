// The Kubernetes quick start: a kustomize images: entry sets the sidecar's image, every value to edit is marked,
// the README's steps are complete.
import t from 'tap'
import { kubernetesDocument, text, yaml } from './files.js'

interface Kustomization { images?: Array<{ name: string, newName?: string, newTag?: string }> }

const kustomization = yaml<Kustomization>('config/kubernetes/kustomization.yaml')
const deployment = kubernetesDocument('Deployment')
const initContainers = deployment.spec.template.spec.initContainers as Array<{ name: string, image: string }>
const sidecar = initContainers.find((c) => c.name === 'tokenproxy')!
const readme = text('README.md')
const k8sSection = readme.slice(readme.indexOf('### 3. Kubernetes native sidecar'), readme.indexOf('### The container image'))

t.test('kustomization.yaml\'s images: entry replaces the sidecar\'s image', async (t) => {
  const entry = kustomization.images?.find((i) => i.name === sidecar.image.split(':')[0])
  t.ok(entry, `an images: entry named ${sidecar.image.split(':')[0]}, the sidecar's image name`)
  t.match(entry?.newName, /^[\w.-]+(:\d+)?\/[\w./-]+$/, 'a newName with a registry')
  t.type(entry?.newTag, 'string', 'a newTag (quoted, so YAML keeps it a string)')
  // What `kubectl apply -k` deploys, and what the README's docker build and push produce.
  const deployed = `${entry!.newName}:${entry!.newTag}`
  t.ok(k8sSection.includes(`docker build -t ${deployed} . && docker push ${deployed}`), `the README builds and pushes ${deployed}`)
})

t.test('every value to edit is marked EDIT:, and every example.org value is one of them', async (t) => {
  for (const file of ['kustomization.yaml', 'configmap.yaml']) {
    const lines = text(`config/kubernetes/${file}`).split('\n')
    const placeholders = lines.filter((l) => /example\.org|newTag:/.test(l) && !l.trimStart().startsWith('#'))
    t.ok(placeholders.length > 0, `${file} has placeholders`)
    for (const l of placeholders) t.match(l, /# EDIT: \S/, `${file}: ${l.trim().split('#')[0]!.trim()} is marked, with what to put`)
  }
  const config = text('config/kubernetes/configmap.yaml')
  for (const key of ['url', 'realm', 'clientId', 'target']) {
    t.match(config, new RegExp(`^\\s+${key}: .*# EDIT: `, 'm'), `configmap.yaml: ${key}`)
  }
})

t.test('the README\'s steps: edit, build and push, Secret, apply, wait, logs', async (t) => {
  const steps = [
    '# EDIT:', 'kustomization.yaml', 'configmap.yaml',
    'docker build -t', 'docker push',
    'kubectl create secret generic tokenproxy-registry --from-literal=client-secret=',
    'kubectl apply -k config/kubernetes',
    'kubectl rollout status deployment/legacy-app',
    'kubectl logs deploy/legacy-app -c tokenproxy',
  ]
  let from = 0
  for (const step of steps) {
    const at = k8sSection.indexOf(step, from)
    t.ok(at >= 0, `then: ${step}`)
    if (at >= 0) from = at
  }
  t.notMatch(k8sSection, /then set the image in deployment\.yaml/, 'the image is set in one place, by kustomize')
})
