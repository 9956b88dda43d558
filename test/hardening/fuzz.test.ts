// 10,000 seeded hostile requests over raw sockets: no crash, no hang, no off-route forward, one injected Bearer, well-formed answers.
import { writeFileSync } from 'node:fs'
import t from 'tap'
import type { RecordedUpstreamRequest, Upstream } from '../peers/upstream.js'
import { startUpstream } from '../peers/upstream.js'
import { startKeycloak } from '../peers/keycloak-emulator.js'
import { startRegards } from '../peers/regards-emulator.js'
import { keycloakCredential, rawRequest, rawValues } from '../helpers/proxy-fixture.js'
import { startSidecar, until } from '../helpers/sidecar.js'
import { generateCase, type FuzzCase, type RouteName } from '../helpers/fuzz-cases.js'
import { exchange } from '../helpers/fuzz-exchange.js'

const SEED = Number(process.env.FUZZ_SEED ?? 0x7c3a9e11) >>> 0
const CASES = Number(process.env.FUZZ_CASES ?? 10_000)
const CONCURRENCY = 48
const EXCHANGE_TIMEOUT_MS = 8000

/** Why a path recorded by an upstream lies outside `base`, or undefined when it does not. */
function offRoute (path: string, base: string): string | undefined {
  if (!path.startsWith('/')) return 'not origin-form'
  if (base !== '' && path !== base && !path.startsWith(`${base}/`)) return `outside ${base}`
  if (path.includes('\\') || /%(2f|5c)/i.test(path)) return 'an encoded slash or a backslash'
  for (const raw of path.split('/').slice(1)) {
    let s = raw
    for (let i = 0; i < 5; i++) {
      if (s === '.' || s === '..' || s.includes('/') || s.includes('\\') || s.includes('\0')) return `segment ${JSON.stringify(raw)}`
      if (!s.includes('%')) break
      try { s = decodeURIComponent(s) } catch { break }
    }
  }
  return undefined
}

t.test(`fuzz: ${CASES} hostile requests, seed=0x${SEED.toString(16)} (rerun with FUZZ_SEED=${SEED})`, async (t) => {
  const crashes: string[] = []
  const onCrash = (kind: string) => (err: unknown): void => { crashes.push(`${kind}: ${(err as Error)?.stack ?? String(err)}`) }
  const onException = onCrash('uncaughtException')
  const onRejection = onCrash('unhandledRejection')
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  t.teardown(() => { process.off('uncaughtException', onException); process.off('unhandledRejection', onRejection) })

  const kc = await startKeycloak()
  t.teardown(() => kc.close())
  const regards = await startRegards()
  t.teardown(() => regards.close())
  const up: Record<RouteName, Upstream> = { A: await startUpstream(), B: await startUpstream(), C: await startUpstream() }
  for (const u of Object.values(up)) t.teardown(() => u.close())
  const base: Record<RouteName, string> = { A: '/base', B: '', C: '/ded' }
  const issued: Record<RouteName, () => string[]> = { A: () => kc.issued, B: () => regards.issued, C: () => kc.issued }
  const s = await startSidecar(t, {
    credentials: {
      registry: keycloakCredential(kc),
      regards: { type: 'regards', url: regards.root, tenant: 'project1', username: 'user@regards.fr', password: 'regards-pass' },
      dedicated: keycloakCredential(kc),
    },
    upstreams: {
      registry: { target: `${up.A.url}/base`, credential: 'registry', prefix: '/registry' },
      regards: { target: up.B.url, credential: 'regards', prefix: '/regards' },
      dedicated: { target: `${up.C.url}/ded`, credential: 'dedicated', port: 0 },
    },
  })
  await until(async () => (await fetch(`${s.admin}/readyz`)).status === 200, 8000, 'every credential to hold a token')
  const ports = { shared: Number(new URL(s.url).port), dedicated: Number(new URL(s.addresses['upstreams.dedicated']!).port) }
  const env = {
    sharedHost: `127.0.0.1:${ports.shared}`,
    dedicatedHost: `127.0.0.1:${ports.dedicated}`,
    upstreamHost: new URL(up.A.url).host,
  }

  const cases = new Map<string, FuzzCase>()
  const outcomes = new Map<string, number>()
  const failures: string[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < CASES) {
      const c = generateCase(SEED, next++, env)
      cases.set(c.id, c)
      const o = await exchange(ports[c.listener], c.bytes, { method: c.method, halfClose: c.halfClose, timeoutMs: EXCHANGE_TIMEOUT_MS })
      outcomes.set(o.label, (outcomes.get(o.label) ?? 0) + 1)
      // The upstreams are healthy and every token valid: a 5xx here is the sidecar mishandling the request.
      if (!o.ok || o.label.startsWith('status:5')) {
        failures.push(`${c.id} (${c.kind}) ${o.label}: ${o.detail} <- ${JSON.stringify(c.bytes.toString('latin1').slice(0, 300))}`)
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))

  // Every upstream request: one of ours, on its own route, inside the base path, with exactly our Bearer.
  const offRouteForwards: string[] = []
  const authProblems: string[] = []
  let forwarded = 0
  for (const route of ['A', 'B', 'C'] as const) {
    const tokens = new Set(issued[route]())
    for (const rec of up[route].requests as RecordedUpstreamRequest[]) {
      forwarded++
      const path = rec.url.split('?', 1)[0]!
      const ids = rawValues(rec.rawHeaders, 'x-fuzz-id')
      const c = ids.length === 1 ? cases.get(ids[0]!) : undefined
      const why = offRoute(path, base[route]) ??
        (c === undefined ? `not a request the client sent at top level (x-fuzz-id ${JSON.stringify(ids)})` : undefined) ??
        (c!.forward?.route !== route
          ? `sent as ${c!.id} to the ${c!.listener} listener, which routes it to ${c!.forward?.route ?? 'nowhere'}`
          : undefined) ??
        (c!.forward!.path !== path ? `expected path ${c!.forward!.path}` : undefined)
      if (why !== undefined) offRouteForwards.push(`${route} got ${rec.method} ${rec.url.slice(0, 200)}: ${why}`)
      const auth = rawValues(rec.rawHeaders, 'authorization')
      const token = /^Bearer (\S+)$/.exec(auth[0] ?? '')?.[1]
      if (auth.length !== 1 || token === undefined || !tokens.has(token)) {
        authProblems.push(`${route} ${rec.url.slice(0, 80)}: Authorization ${JSON.stringify(auth.map((a) => a.slice(0, 20)))}`)
      }
      for (const name of ['proxy-authorization', 'waltid-authorization']) {
        if (rawValues(rec.rawHeaders, name).length > 0) authProblems.push(`${route} ${rec.url.slice(0, 80)}: ${name} forwarded`)
      }
    }
  }

  const byOutcome = Object.fromEntries([...outcomes].sort(([a], [b]) => a.localeCompare(b)))
  t.comment(`seed 0x${SEED.toString(16)}: ${cases.size} requests sent, ${forwarded} forwarded ` +
    `(A ${up.A.requests.length}, B ${up.B.requests.length}, C ${up.C.requests.length})`)
  const kinds = [...cases.values()].reduce<Record<string, number>>((a, c) => ({ ...a, [c.kind]: (a[c.kind] ?? 0) + 1 }), {})
  t.comment(`kinds: ${JSON.stringify(kinds)}; outcomes: ${JSON.stringify(byOutcome)}`)
  t.comment(`off-route forwards: ${offRouteForwards.length}, auth problems: ${authProblems.length}, ` +
    `failures: ${failures.length}, crashes: ${crashes.length}`)
  t.equal(cases.size, CASES, 'every case was sent')
  t.same(failures.slice(0, 20), [], `every exchange ended in a well-formed response or a close, none hung (${failures.length} failures)`)
  t.same(offRouteForwards.slice(0, 20), [],
    `no request reached an upstream outside its route, or with another path than the client asked for (${offRouteForwards.length})`)
  t.same(authProblems.slice(0, 20), [], `every upstream request carried exactly one Bearer the IdP issued (${authProblems.length})`)
  t.ok(forwarded > CASES / 10, `a good share of the requests was forwarded (${forwarded}), so the checks above had material`)
  t.ok((outcomes.get('status:400') ?? 0) > CASES / 10, 'and a good share was refused')

  // Still alive and still serving.
  t.equal((await fetch(`${s.admin}/healthz`)).status, 200, '/healthz answers')
  const routes = [
    [s.url, '/registry/after', 'A', '/base/after'],
    [s.url, '/regards/after', 'B', '/after'],
    [s.addresses['upstreams.dedicated']!, '/after', 'C', '/ded/after'],
  ] as const
  for (const [listenerUrl, path, route, want] of routes) {
    const res = await rawRequest(listenerUrl, `GET ${path} HTTP/1.1`)
    t.equal(res.status, 200, `${path} still works`)
    t.equal(up[route].requests.at(-1)?.url, want)
  }
  t.same(crashes, [], 'no uncaughtException or unhandledRejection')
  const internal = s.logs.find('unexpected error')
  // FUZZ_DUMP=FILE keeps every finding (the assertions show the first 20) for a closer look.
  if (process.env.FUZZ_DUMP !== undefined) {
    writeFileSync(process.env.FUZZ_DUMP,
      [...failures, ...offRouteForwards, ...authProblems, ...internal.map((l) => JSON.stringify(l))].join('\n'))
  }
  t.same(internal.slice(0, 5).map((l) => l.err), [], `no request ended in an unexpected internal error (${internal.length})`)
})
