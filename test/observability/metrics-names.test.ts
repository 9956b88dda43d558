// /metrics serves exactly the SPEC's six tokenproxy_ metrics (names, types, labels) plus prom-client defaults, per sidecar.
import t from 'tap'
import { register } from 'prom-client'
import { request } from 'undici'
import { claimsOf, startKeycloak } from '../peers/keycloak-emulator.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const SPEC: Record<string, { type: string, labels: string[] }> = {
  tokenproxy_token_requests_total: { type: 'counter', labels: ['credential', 'outcome'] },
  tokenproxy_token_request_duration_seconds: { type: 'histogram', labels: ['credential'] },
  tokenproxy_token_expiry_timestamp_seconds: { type: 'gauge', labels: ['credential'] },
  tokenproxy_requests_total: { type: 'counter', labels: ['code', 'method', 'upstream'] },
  tokenproxy_request_duration_seconds: { type: 'histogram', labels: ['upstream'] },
  tokenproxy_upstream_auth_retries_total: { type: 'counter', labels: ['upstream'] },
  tokenproxy_config_reloads_total: { type: 'counter', labels: ['outcome'] },
}

interface Sample { name: string, labels: Record<string, string>, value: number }

function samples (text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

function types (text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]))
}

/** The value of the one sample matching name and labels exactly. */
function value (all: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort())
  return all.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value
}

async function scrape (admin: string): Promise<{ contentType: string, text: string }> {
  const res = await request(`${admin}/metrics`)
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`)
  return { contentType: String(res.headers['content-type']), text: await res.body.text() }
}

t.test('the six SPEC metrics with their types and labels, plus prom-client defaults', async (t) => {
  const kc = await startKeycloak({ clients: { 'test-client': { secret: 'test-secret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const { url, admin, logs } = await startSidecar(t, {
    credentials: {
      kc: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: 'test-secret' },
      bad: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: 'not-the-secret' },
    },
    upstreams: {
      api: { target: up.url, credential: 'kc', prefix: '/api' },
      other: { target: up.url, credential: 'bad', prefix: '/other' },
    },
  })

  const first = await request(`${url}/api/a`)
  t.equal(first.statusCode, 200)
  await first.body.text()
  const refused = up.requests[0]!.headers.authorization!.slice('Bearer '.length)
  up.setMode({ kind: 'reject', tokens: new Set([refused]), times: 1 })
  const replayed = await request(`${url}/api/b`)
  t.equal(replayed.statusCode, 200, 'replayed once with a fresh token after the 401')
  await replayed.body.text()
  t.equal(up.rejections, 1)
  const noRoute = await request(`${url}/nowhere/x`)
  t.equal(noRoute.statusCode, 404)
  await noRoute.body.text()
  const odd = await request(`${url}/api/c`, { method: 'PURGE' })
  await odd.body.text()
  await until(() => logs.lines.filter((l) => l.outcome === 'rejected').length > 0, 5000, 'the bad credential to be rejected')

  const { contentType, text } = await scrape(admin)
  t.match(contentType, /^text\/plain; version=0\.0\.4(;|$)/, 'Prometheus text format 0.0.4')

  const declared = types(text)
  const ours = Object.fromEntries(Object.entries(declared).filter(([n]) => n.startsWith('tokenproxy_')))
  t.same(ours, Object.fromEntries(Object.entries(SPEC).map(([n, s]) => [n, s.type])), 'exactly the SPEC names, with their types')
  t.equal(declared.process_cpu_seconds_total, 'counter', 'prom-client default process_cpu_seconds_total')
  t.equal(declared.nodejs_heap_size_total_bytes, 'gauge', 'prom-client default nodejs_heap_size_total_bytes')

  const all = samples(text)
  for (const [name, spec] of Object.entries(SPEC)) {
    const family = all.filter((s) => s.name === name ||
      (spec.type === 'histogram' && /^(.*)_(bucket|sum|count)$/.exec(s.name)?.[1] === name))
    t.ok(family.length > 0, `${name} has samples`)
    const labelSets = new Set(family.map((s) => Object.keys(s.labels).filter((l) => l !== 'le').sort().join(',')))
    t.same([...labelSets], [spec.labels.join(',')], `${name} labels: ${spec.labels.join(', ')}`)
  }

  t.equal(value(all, 'tokenproxy_token_requests_total', { credential: 'kc', outcome: 'success' }), 2, 'first token + the one after the 401')
  t.ok((value(all, 'tokenproxy_token_requests_total', { credential: 'bad', outcome: 'rejected' }) ?? 0) >= 1, 'rejected outcome counted')
  t.equal(value(all, 'tokenproxy_token_request_duration_seconds_count', { credential: 'kc' }), 2)
  t.equal(value(all, 'tokenproxy_requests_total', { upstream: 'api', method: 'GET', code: '200' }), 2, 'a replayed request counts once')
  t.equal(value(all, 'tokenproxy_upstream_auth_retries_total', { upstream: 'api' }), 1)
  t.equal(value(all, 'tokenproxy_config_reloads_total', { outcome: 'applied' }), 0, 'no reload yet: both outcomes at 0, not absent')
  t.equal(value(all, 'tokenproxy_config_reloads_total', { outcome: 'invalid' }), 0)
  t.equal(value(all, 'tokenproxy_request_duration_seconds_count', { upstream: 'api' }), 2)
  t.ok(all.some((s) => s.name === 'tokenproxy_requests_total' && s.labels.code === '404'), 'the 404 is counted')
  t.ok(all.some((s) => s.name === 'tokenproxy_requests_total' && s.labels.method === 'OTHER'), 'an unusual method is counted as OTHER')
  t.notOk(all.some((s) => s.labels.method === 'PURGE'), 'no client-invented label value')
  t.notOk(/\/api\/|\/nowhere/.test(text), 'no path in any label')

  // The expiry gauge is the current token's exp.
  const current = kc.issued.filter((tok) => claimsOf(tok).azp === 'test-client').at(-1)!
  const gauge = value(all, 'tokenproxy_token_expiry_timestamp_seconds', { credential: 'kc' })!
  t.ok(Math.abs(gauge - claimsOf(current).exp!) <= 1, `expiry gauge ${gauge} is the token's exp ${claimsOf(current).exp} (±1 s)`)
  t.equal(value(all, 'tokenproxy_token_expiry_timestamp_seconds', { credential: 'bad' }), undefined,
    'no gauge for a credential that never held a token')
})

t.test('two sidecars in one process do not share a registry', async (t) => {
  const kc = await startKeycloak({ clients: { 'test-client': { secret: 'test-secret' } } })
  t.teardown(() => kc.close())
  const up = await startUpstream()
  t.teardown(() => up.close())
  const start = (cred: string, upstream: string): ReturnType<typeof startSidecar> => startSidecar(t, {
    credentials: { [cred]: { type: 'keycloak', url: kc.root, realm: kc.realm, clientId: 'test-client', clientSecret: 'test-secret' } },
    upstreams: { [upstream]: { target: up.url, credential: cred, prefix: `/${upstream}` } },
  })
  const a = await start('cred-a', 'up-a')
  const b = await start('cred-b', 'up-b')
  t.not(a.sidecar.metrics.registry, b.sidecar.metrics.registry)
  for (let i = 0; i < 3; i++) {
    const res = await request(`${a.url}/up-a/x`)
    t.equal(res.statusCode, 200)
    await res.body.text()
  }
  const res = await request(`${b.url}/up-b/x`)
  t.equal(res.statusCode, 200)
  await res.body.text()

  const textA = (await scrape(a.admin)).text
  const textB = (await scrape(b.admin)).text
  t.notOk(textA.includes('cred-b') || textA.includes('up-b'), 'A shows nothing of B')
  t.notOk(textB.includes('cred-a') || textB.includes('up-a'), 'B shows nothing of A')
  t.equal(value(samples(textA), 'tokenproxy_requests_total', { upstream: 'up-a', method: 'GET', code: '200' }), 3)
  t.equal(value(samples(textB), 'tokenproxy_requests_total', { upstream: 'up-b', method: 'GET', code: '200' }), 1)
  t.equal(textA.match(/^# TYPE tokenproxy_requests_total /gm)?.length, 1, 'each metric declared once')
  t.notOk((await register.metrics()).includes('tokenproxy_'), 'nothing on prom-client\'s global registry')
})
