// The Kubernetes sidecar: its ConfigMap passes `tokenproxy check`, secrets and config are mounted where the config reads them, probes and
// scrape hit the admin listener, the pod is locked down.
import { writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { cli } from '../../src/cli.js'
import { parseConfig } from '../../src/configuration.js'
import { execForm, kubernetesDocument, only, runtimeStage } from './files.js'

const DEPLOYMENT = kubernetesDocument('Deployment')
const CONFIGMAP = kubernetesDocument('ConfigMap')
const SECRET = kubernetesDocument('Secret')
const POD = DEPLOYMENT.spec.template.spec
const SIDECAR = (POD.initContainers as Array<Record<string, any>>).find((c) => c.name === 'tokenproxy')!
const APP_CONTAINERS = POD.containers as Array<Record<string, any>>
const RAW_CONFIG = CONFIGMAP.data['config.yaml'] as string
const SECRET_KEYS: Record<string, string> = {
  ...SECRET.stringData,
  ...Object.fromEntries(Object.entries(SECRET.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString()])),
}
const RUNTIME = runtimeStage()
const CMD = execForm(only(RUNTIME, 'CMD').args)

/** Every `{ file: PATH }` secret in a parsed config. */
function secretFiles (node: unknown): string[] {
  if (node === null || typeof node !== 'object') return []
  const obj = node as Record<string, unknown>
  if (Object.keys(obj).length === 1 && typeof obj.file === 'string') return [obj.file]
  return Object.values(obj).flatMap(secretFiles)
}

function mountFor (path: string): { mount: Record<string, any>, volume: Record<string, any> } {
  const mount = (SIDECAR.volumeMounts as Array<Record<string, any>>).find((m) => m.mountPath === dirname(path))
  if (mount === undefined) throw new Error(`nothing is mounted at ${dirname(path)}`)
  return { mount, volume: (POD.volumes as Array<Record<string, any>>).find((v) => v.name === mount.name)! }
}

/** The key of a configMap/secret volume that ends up as the file `name` in its mount. */
function keyFor (source: { items?: Array<{ key: string, path: string }> }, name: string): string | undefined {
  if (source.items === undefined) return name
  return source.items.find((i) => i.path === name)?.key
}

t.test('the ConfigMap\'s config passes `tokenproxy check` with the Secret\'s files in place', async (t) => {
  const files = secretFiles(parse(RAW_CONFIG))
  t.ok(files.length > 0, 'the config reads its secrets from files')
  const dir = t.testdir({})
  let local = RAW_CONFIG
  for (const file of files) {
    const key = keyFor(mountFor(file).volume.secret, basename(file))!
    writeFileSync(join(dir, basename(file)), `${SECRET_KEYS[key]}\n`)
    local = local.replaceAll(file, join(dir, basename(file)))
  }
  const config = join(dir, 'config.yaml')
  writeFileSync(config, local)
  let out = ''
  let err = ''
  const code = await cli(['check', '--config', config], { out: (s) => { out += s }, err: (s) => { err += s }, env: {} })
  t.equal(code, 0, err)
  t.match(out, /configuration is valid/)
  t.notMatch(out, SECRET_KEYS[keyFor(mountFor(files[0]!).volume.secret, basename(files[0]!))!]!, 'no secret in the summary')
})

t.test('the config and every `{ file }` secret are mounted where tokenproxy reads them', async (t) => {
  t.same(SIDECAR.args, CMD, 'the sidecar runs the image\'s CMD')
  const configPath = CMD[CMD.indexOf('--config') + 1]!
  const config = mountFor(configPath)
  t.equal(config.volume.configMap?.name, CONFIGMAP.metadata.name, `${configPath} comes from the ConfigMap`)
  t.equal(keyFor(config.volume.configMap, basename(configPath)), 'config.yaml')
  t.equal(config.mount.subPath, undefined, 'a directory mount, so updates reach the pod')
  for (const file of secretFiles(parse(RAW_CONFIG))) {
    const { mount, volume } = mountFor(file)
    t.equal(volume.secret?.secretName, SECRET.metadata.name, `${file} comes from the Secret ${SECRET.metadata.name}`)
    const key = keyFor(volume.secret, basename(file))
    t.ok(key !== undefined && key in SECRET_KEYS, `${file}: the Secret has the key ${key}`)
    t.equal(mount.readOnly, true)
    t.equal(mount.subPath, undefined, 'a directory mount, so a rotated Secret reaches the file tokenproxy re-reads')
    const mode = volume.secret.defaultMode ?? 0o644
    t.ok((mode & 0o004) !== 0 || ((mode & 0o040) !== 0 && POD.securityContext.fsGroup !== undefined),
      `mode ${mode.toString(8)} lets the non-root process read it`)
    t.equal(mode & 0o002, 0, 'not writable by others')
  }
})

t.test('a native sidecar: the proxy on loopback for the app, the admin listener on the pod IP for probes and scrapes', async (t) => {
  t.equal(SIDECAR.restartPolicy, 'Always', 'an init container with restartPolicy: Always')
  t.match(SIDECAR.image, /^([\w.-]+\/)*tokenproxy:/)
  const cfg = parseConfig(RAW_CONFIG.replace(/\{ file: [^}]+\}/g, 'placeholder'), {})
  t.equal(cfg.listen.host, '127.0.0.1', 'the proxy is reachable from inside the pod only')
  t.equal(cfg.admin.host, '0.0.0.0', 'the kubelet probes the pod IP, not loopback')
  const ports = Object.fromEntries((SIDECAR.ports as Array<{ name: string, containerPort: number }>).map((p) => [p.name, p.containerPort]))
  t.same(ports, { proxy: cfg.listen.port, admin: cfg.admin.port }, 'declared ports match the config')
  const target = (probe: { httpGet: { path: string, port: string | number } }): string => {
    const port = typeof probe.httpGet.port === 'number' ? probe.httpGet.port : ports[probe.httpGet.port]
    return `${port}${probe.httpGet.path}`
  }
  t.equal(target(SIDECAR.livenessProbe), `${cfg.admin.port}/healthz`, 'liveness: the process answers')
  t.equal(target(SIDECAR.readinessProbe), `${cfg.admin.port}/readyz`, 'readiness: every credential holds a token')
  t.equal(target(SIDECAR.startupProbe), `${cfg.admin.port}/readyz`, 'startup: the app waits for the first token')
  const annotations = DEPLOYMENT.spec.template.metadata.annotations as Record<string, string>
  t.same(annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(cfg.admin.port), 'prometheus.io/path': '/metrics' })
  const prefix = Object.values(cfg.upstreams)[0]!.prefix
  const appEnv = APP_CONTAINERS.flatMap((c) => (c.env ?? []) as Array<{ value?: string }>).map((e) => e.value)
  t.ok(appEnv.includes(`http://127.0.0.1:${cfg.listen.port}${prefix}`), 'the app calls the sidecar on loopback')
  t.ok(DEPLOYMENT.spec.template.spec.terminationGracePeriodSeconds > cfg.shutdownGrace, 'the pod outlives tokenproxy\'s shutdown grace')
})

t.test('the pod is locked down and every container has requests and limits', async (t) => {
  const user = /^(\d+)/.exec(only(RUNTIME, 'USER').args)![1]
  const pod = POD.securityContext
  t.equal(pod.runAsNonRoot, true)
  t.equal(String(pod.runAsUser), user, 'the image\'s numeric USER')
  t.equal(pod.seccompProfile?.type, 'RuntimeDefault')
  t.equal(POD.automountServiceAccountToken, false, 'no API token in a pod that does not call the API')
  for (const c of [SIDECAR, ...APP_CONTAINERS]) {
    const sc = c.securityContext
    t.equal(sc.readOnlyRootFilesystem, true, `${c.name}: read-only root filesystem`)
    t.equal(sc.runAsNonRoot, true, `${c.name}: runAsNonRoot`)
    t.ok(Number(sc.runAsUser ?? pod.runAsUser) > 0, `${c.name}: runAsUser`)
    t.equal(sc.allowPrivilegeEscalation, false, `${c.name}: no privilege escalation`)
    t.same(sc.capabilities?.drop, ['ALL'], `${c.name}: every capability dropped`)
    t.notOk(sc.capabilities?.add, `${c.name}: none added`)
    t.equal((sc.seccompProfile ?? pod.seccompProfile)?.type, 'RuntimeDefault', `${c.name}: seccomp RuntimeDefault`)
    for (const kind of ['requests', 'limits']) {
      t.ok(c.resources?.[kind]?.cpu && c.resources?.[kind]?.memory, `${c.name}: cpu and memory ${kind}`)
    }
  }
})
