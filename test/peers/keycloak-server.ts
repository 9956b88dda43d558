// A real Keycloak for the suite: the server distribution from Maven Central (cached), `kc.sh start-dev` on loopback, its admin REST API.
//
// One server per `npm test` run: tap's `before` hook runs this file (it starts the server in the
// background and writes where it listens to a state file), test files call `realKeycloak(t)`, and
// tap's `after` hook (keycloak-stop.ts) stops it by PID. A test file run on its own, without tap's
// hooks, starts a private server. `KEYCLOAK_TEST_URL` points the suite at a Keycloak already running.
import { spawn, spawnSync } from 'node:child_process'
import {
  closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { issuedList, realmUrls, type RealmUrls } from './peer-kit.js'

/** The 26.4 minor that docker-compose.yml runs (quay.io/keycloak/keycloak:26.4), newest patch on Maven Central. */
export const KEYCLOAK_VERSION = '26.4.7'
const ARTIFACT = `org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:zip`
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** Git-ignored: the unpacked distributions (the zip itself stays in Maven's ~/.m2). */
export const CACHE = process.env.KEYCLOAK_TEST_CACHE ?? join(REPO, '.cache', 'keycloak')
const STATE_FILE = join(CACHE, 'shared-server.json')
/** The bootstrap admin; `KEYCLOAK_TEST_ADMIN=user:password` for a Keycloak already running. */
const [adminUser, ...adminPassword] = (process.env.KEYCLOAK_TEST_ADMIN ?? 'admin:admin').split(':')
const ADMIN = { username: adminUser!, password: adminPassword.join(':') }
/** The first start of a distribution also builds it (Quarkus augmentation), about a minute on 2 cores. */
const READY_TIMEOUT_MS = 300_000
export const INSTALL_HINT = 'install a JDK (17, 21 or 25) and Maven, e.g. `apt-get install default-jdk-headless maven`'

export interface Java { home: string; version: string }

/** Where the shared server listens, as the `before` hook wrote it (or why there is none). */
interface State {
  origin?: string
  root?: string
  management?: string
  pid?: number
  java?: string
  version?: string
  unavailable?: string
  log?: string
}

function run (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 })
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

function javaVersionOf (home: string): string | null {
  const r = run(join(home, 'bin', 'java'), ['-version'])
  return r.ok ? (/version "([^"]+)"/.exec(r.out)?.[1] ?? null) : null
}

/**
 * The JDK Keycloak runs on: `KEYCLOAK_TEST_JAVA_HOME` if set; else the newest JDK of 21 or later
 * under /usr/lib/jvm (Keycloak 26 supports 17, 21 and 25, and recommends the newest); else the
 * `java` on PATH (this machine's OpenJDK 17).
 */
export function findJava (): Java | null {
  const forced = process.env.KEYCLOAK_TEST_JAVA_HOME
  if (forced) {
    const v = javaVersionOf(forced)
    return v ? { home: forced, version: v } : null
  }
  const jvms = existsSync('/usr/lib/jvm') ? readdirSync('/usr/lib/jvm') : []
  const candidates = jvms
    .map((d) => join('/usr/lib/jvm', d))
    .map((home) => ({ home, version: existsSync(join(home, 'bin', 'java')) ? javaVersionOf(home) : null }))
    .filter((j): j is Java => j.version !== null && Number.parseInt(j.version, 10) >= 21)
    .sort((a, b) => Number.parseInt(b.version, 10) - Number.parseInt(a.version, 10))
  if (candidates[0]) return candidates[0]
  const which = run('sh', ['-c', 'readlink -f "$(command -v java)"'])
  if (!which.ok || which.out.trim() === '') return null
  const home = dirname(dirname(which.out.trim()))
  const version = javaVersionOf(home)
  return version ? { home, version } : null
}

/** Why a Keycloak cannot be started here, or null when Java and Maven are present. */
export function missingRequirement (java = findJava()): string | null {
  if (!java) return `no Java found: ${INSTALL_HINT}`
  if (!run('mvn', ['-v']).ok) return `no Maven (mvn) found: ${INSTALL_HINT}`
  return null
}

/**
 * The unpacked distribution for `variant` ('' or 'auth': a second copy, since the relative path is a
 * build option and each copy keeps its own Quarkus build). Downloads nothing when cached.
 */
export function distribution (java: Java, variant: '' | 'auth' = ''): string {
  const dir = join(CACHE, variant ? `keycloak-${KEYCLOAK_VERSION}-${variant}` : `keycloak-${KEYCLOAK_VERSION}`)
  if (existsSync(join(dir, 'bin', 'kc.sh'))) return dir
  mkdirSync(CACHE, { recursive: true })
  const download = join(CACHE, 'download')
  const zip = join(download, `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.zip`)
  if (!existsSync(zip)) {
    const env = { ...process.env, JAVA_HOME: java.home }
    const got = run('mvn', ['-q', '-B', 'dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${download}`], env)
    if (!got.ok || !existsSync(zip)) throw new Error(`mvn could not fetch ${ARTIFACT}:\n${got.out.slice(-4000)}`)
  }
  // Unpack beside the target and rename, so an interrupted unpack is never taken for a distribution.
  const partial = mkdtempSync(join(CACHE, 'unpack-'))
  // A JDK's `jar` unpacks it; a bare JRE has none, then `unzip`. kc.sh is run with `sh`, so lost mode bits do not matter.
  const jarTool = join(java.home, 'bin', 'jar')
  const unpack = existsSync(jarTool)
    ? spawnSync(jarTool, ['xf', zip], { cwd: partial, encoding: 'utf8' })
    : spawnSync('unzip', ['-q', zip], { cwd: partial, encoding: 'utf8' })
  if (unpack.status !== 0) throw new Error(`could not unpack ${zip}: ${unpack.stderr ?? unpack.error?.message}`)
  renameSync(join(partial, `keycloak-${KEYCLOAK_VERSION}`), dir)
  rmSync(partial, { recursive: true, force: true })
  return dir
}

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export interface StartOptions {
  /** '' (Keycloak 17+: no prefix) or '/auth' (the legacy root, `--http-relative-path=/auth`). */
  relativePath?: '' | '/auth';
  /** Realm export files imported at start (`--import-realm`). */
  importRealms?: string[];
}

/** One Keycloak process on loopback, with its own throwaway home (data, import, log). */
export class KeycloakProcess {
  pid: number | undefined
  #exited: Promise<void> = Promise.resolve()

  private constructor (
    readonly java: Java,
    readonly home: string,
    readonly origin: string,
    readonly root: string,
    readonly management: string,
    private readonly args: string[]
  ) {}

  static async create (java: Java, opts: StartOptions = {}): Promise<KeycloakProcess> {
    const prefix = opts.relativePath ?? ''
    const dist = distribution(java, prefix === '/auth' ? 'auth' : '')
    // A home of its own: bin and conf copied (kc.sh finds home from its own path), lib shared, data fresh.
    const home = mkdtempSync(join(tmpdir(), 'tokenproxy-keycloak-'))
    cpSync(join(dist, 'bin'), join(home, 'bin'), { recursive: true })
    cpSync(join(dist, 'conf'), join(home, 'conf'), { recursive: true })
    for (const d of ['lib', 'themes', 'providers']) symlinkSync(join(dist, d), join(home, d))
    mkdirSync(join(home, 'data', 'import'), { recursive: true })
    for (const file of opts.importRealms ?? []) cpSync(file, join(home, 'data', 'import', file.split('/').pop()!))
    const [http, management] = [await freePort(), await freePort()]
    const args = [
      join(home, 'bin', 'kc.sh'), 'start-dev',
      '--http-host=127.0.0.1', `--http-port=${http}`, `--http-management-port=${management}`, '--health-enabled=true',
      ...(prefix ? [`--http-relative-path=${prefix}`] : []),
      ...(opts.importRealms?.length ? ['--import-realm'] : []),
    ]
    const origin = `http://127.0.0.1:${http}`
    // The management interface takes http-relative-path as its own by default.
    return new KeycloakProcess(java, home, origin, `${origin}${prefix}`, `http://127.0.0.1:${management}${prefix}`, args)
  }

  /** Starts the server in the background (its own process group); `ready()` waits for it. */
  start (): void {
    const out = openLog(this.logFile)
    const child = spawn('sh', this.args, {
      detached: true,
      stdio: ['ignore', out, out],
      env: {
        ...process.env,
        JAVA_HOME: this.java.home,
        // C1 only: a test server does not run long enough for C2 to pay off. Measured here: start 18.5 s
        // and 27 CPU-s without, 12.9 s and 15 CPU-s with; the first start with its build 47 -> 29 CPU-s.
        JAVA_OPTS_APPEND: `${process.env.JAVA_OPTS_APPEND ?? ''} -XX:TieredStopAtLevel=1`.trim(),
        KC_BOOTSTRAP_ADMIN_USERNAME: ADMIN.username,
        KC_BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
      },
    })
    closeSync(out)
    child.unref()
    this.pid = child.pid
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
  }

  get logFile (): string {
    return join(this.home, 'keycloak.log')
  }

  /** Resolves once `/health/ready` answers 200. */
  async ready (timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    await waitReady(this.management, timeoutMs, () => this.pid !== undefined && alive(this.pid), this.logFile)
  }

  /** SIGTERM to the process group, SIGKILL after 20 s; resolves when it has exited. */
  async stop (): Promise<void> {
    const pid = this.pid
    if (pid === undefined) return
    this.pid = undefined
    await stopGroup(pid)
    await this.#exited
  }

  /** Stops it and removes its home. */
  async dispose (): Promise<void> {
    await this.stop()
    rmSync(this.home, { recursive: true, force: true })
  }
}

/** A file the server logs to: it outlives this process, so the server keeps logging after the `before` hook exits. */
function openLog (path: string): number {
  return openSync(path, 'w')
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function stopGroup (pid: number): Promise<void> {
  const signal = (s: NodeJS.Signals): void => {
    try { process.kill(-pid, s) } catch { /* already gone */ }
  }
  signal('SIGTERM')
  const end = Date.now() + 20_000
  while (alive(pid) && Date.now() < end) await sleep(100)
  if (alive(pid)) signal('SIGKILL')
  while (alive(pid)) await sleep(50)
}

async function waitReady (management: string, timeoutMs: number, running: () => boolean, log?: string): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    try {
      const res = await fetch(`${management}/health/ready`, { signal: AbortSignal.timeout(2000) })
      await res.body?.cancel()
      if (res.status === 200) return
    } catch { /* not listening yet */ }
    const tail = (): string => (log && existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '')
    if (!running()) throw new Error(`Keycloak exited before it was ready:\n${tail()}`)
    if (Date.now() > end) throw new Error(`Keycloak was not ready after ${timeoutMs / 1000} s:\n${tail()}`)
    await sleep(250)
  }
}

// ---- the shared server: started by tap's `before` hook, stopped by its `after` hook ----

function readState (): State | null {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as State
  } catch {
    return null
  }
}

/** The `before` hook: stops a server a previous, interrupted run left, starts a fresh one, returns at once. */
export async function startShared (): Promise<void> {
  if (process.env.KEYCLOAK_TEST_URL) return
  await stopShared()
  mkdirSync(CACHE, { recursive: true })
  const java = findJava()
  const missing = missingRequirement(java)
  if (missing) {
    writeFileSync(STATE_FILE, JSON.stringify({ unavailable: missing } satisfies State))
    return
  }
  const started = Date.now()
  const kc = await KeycloakProcess.create(java!,
    { importRealms: [join(REPO, 'config', 'keycloak', 'consent-01-external-system-realm.json')] })
  kc.start()
  const state: State = {
    origin: kc.origin,
    root: kc.root,
    management: kc.management,
    pid: kc.pid!,
    java: `${java!.version} (${java!.home})`,
    version: KEYCLOAK_VERSION,
    log: kc.logFile,
  }
  writeFileSync(STATE_FILE, JSON.stringify(state))
  console.error(`# real Keycloak ${KEYCLOAK_VERSION} starting on ${kc.origin}, Java ${state.java}, ` +
    `in ${Date.now() - started} ms of setup; log ${kc.logFile}`)
}

/** The `after` hook: stops the shared server by PID and removes its home. */
export async function stopShared (): Promise<void> {
  if (process.env.KEYCLOAK_TEST_URL) return
  const state = readState()
  rmSync(STATE_FILE, { force: true })
  if (state?.pid !== undefined && alive(state.pid)) await stopGroup(state.pid)
  if (state?.log) rmSync(dirname(state.log), { recursive: true, force: true })
}

// ---- what tests use ----

export interface RealKeycloak {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** The server root tokenproxy's `url` takes (origin + relative path). */
  root: string;
  version: string;
  java: string;
  admin: KeycloakAdmin;
  realm(name: string): RealmUrls;
}

let privateServer: Promise<KeycloakProcess> | undefined

function describe (t: Test, server: KeycloakProcess | { origin: string; root: string; java: string }): RealKeycloak {
  const java = server instanceof KeycloakProcess ? `${server.java.version} (${server.java.home})` : server.java
  t.comment(`real Keycloak ${KEYCLOAK_VERSION} at ${server.root}, Java ${java}`)
  return {
    origin: server.origin,
    root: server.root,
    version: KEYCLOAK_VERSION,
    java,
    admin: new KeycloakAdmin(server.root),
    realm: (name) => realmUrls(server.origin, server.root.slice(server.origin.length), name),
  }
}

/**
 * The run's shared Keycloak, ready. Without Java or Maven: one skip line naming what to install,
 * or a failure under `CI=true`; resolves undefined then, and the file ends there.
 */
export async function realKeycloak (t: Test): Promise<RealKeycloak | undefined> {
  const external = process.env.KEYCLOAK_TEST_URL
  if (external) {
    const root = external.replace(/\/+$/, '')
    const origin = new URL(root).origin
    await waitReady(process.env.KEYCLOAK_TEST_MANAGEMENT_URL ?? root, READY_TIMEOUT_MS, () => true).catch(() => undefined)
    return describe(t, { origin, root, java: 'external' })
  }
  const state = readState()
  const unavailable = state?.unavailable ?? (state ? null : missingRequirement())
  if (unavailable) {
    if (process.env.CI === 'true') t.fail(`real Keycloak: cannot run here under CI: ${unavailable}`)
    else t.plan(0, `real Keycloak ${KEYCLOAK_VERSION}: skipped, ${unavailable}`)
    return undefined
  }
  if (state?.management && state.origin && state.root) {
    await waitReady(state.management, READY_TIMEOUT_MS, () => state.pid !== undefined && alive(state.pid), state.log)
    return describe(t, { origin: state.origin, root: state.root, java: state.java ?? '' })
  }
  // Run on its own (no tap `before` hook): a private server for this process.
  privateServer ??= (async () => {
    const kc = await KeycloakProcess.create(findJava()!,
      { importRealms: [join(REPO, 'config', 'keycloak', 'consent-01-external-system-realm.json')] })
    kc.start()
    process.once('beforeExit', () => { void kc.dispose() })
    await kc.ready()
    return kc
  })()
  const kc = await privateServer
  t.teardown(() => kc.dispose())
  return describe(t, kc)
}

/** A realm representation: what the admin API and realm exports take (only the fields tests use are typed). */
export type RealmRep = Record<string, unknown> & { realm: string }

/** Keycloak's admin REST API with a token from the bootstrap admin (master realm, admin-cli). */
export class KeycloakAdmin {
  #token: { value: string; until: number } | undefined
  constructor (readonly root: string) {}

  async token (): Promise<string> {
    if (this.#token && Date.now() < this.#token.until) return this.#token.value
    const res = await fetch(`${this.root}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', ...ADMIN }),
    })
    const body = await res.json() as { access_token?: string; expires_in?: number }
    if (!res.ok || !body.access_token) throw new Error(`admin token: ${res.status} ${JSON.stringify(body)}`)
    this.#token = { value: body.access_token, until: Date.now() + ((body.expires_in ?? 60) - 10) * 1000 }
    return body.access_token
  }

  /** One admin call; parses JSON answers, throws on a non-2xx status. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.root}/admin/realms${path}`, {
      method,
      headers: { authorization: `Bearer ${await this.token()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`)
    return (text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T
  }

  /** Creates a realm (a unique name per test keeps tests independent); deleted when `t` ends. */
  async createRealm (t: Test, rep: RealmRep): Promise<string> {
    await this.call('POST', '', { enabled: true, sslRequired: 'none', ...rep })
    t.teardown(() => this.call('DELETE', `/${rep.realm}`).then(() => undefined, () => undefined))
    return rep.realm
  }

  /** The internal id of client `clientId`. */
  async clientUuid (realm: string, clientId: string): Promise<string> {
    const found = await this.call<Array<{ id: string }>>('GET', `/${realm}/clients?clientId=${encodeURIComponent(clientId)}`)
    if (!found[0]) throw new Error(`no client ${clientId} in realm ${realm}`)
    return found[0].id
  }

  /** Merges `patch` into the client's representation (the admin API's PUT replaces it whole). */
  async updateClient (realm: string, clientId: string, patch: Record<string, unknown>): Promise<void> {
    const path = `/${realm}/clients/${await this.clientUuid(realm, clientId)}`
    const current = await this.call<Record<string, unknown>>('GET', path)
    await this.call('PUT', path, { ...current, ...patch })
  }

  /** Regenerates the client's secret (as the console's "Regenerate" button does); returns the new one. */
  async regenerateSecret (realm: string, clientId: string): Promise<string> {
    const id = await this.clientUuid(realm, clientId)
    const cred = await this.call<{ value: string }>('POST', `/${realm}/clients/${id}/client-secret`)
    return cred.value
  }

  async userId (realm: string, username: string): Promise<string> {
    const found = await this.call<Array<{ id: string }>>('GET', `/${realm}/users?exact=true&username=${encodeURIComponent(username)}`)
    if (!found[0]) throw new Error(`no user ${username} in realm ${realm}`)
    return found[0].id
  }

  /** The user's active sessions (each login is one; a refresh keeps it). */
  async userSessions (realm: string, username: string): Promise<Array<{ id: string; start: number; lastAccess: number }>> {
    return await this.call('GET', `/${realm}/users/${await this.userId(realm, username)}/sessions`)
  }
}

/** Tokens the real server issued that tests saw: every sidecar's output is scanned for them too. */
const seen = issuedList('real Keycloak token')

/** The token of an `Authorization: Bearer` header an upstream received, registered for the leak scan. */
export function bearerSeen (authorization: string | undefined): string {
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1]
  if (!token) throw new Error(`not a Bearer header: ${String(authorization).slice(0, 20)}`)
  seen.push(token)
  return token
}

/** Registers tokens a test obtained from the real server itself, for the leak scan. */
export function tokenSeen (token: string): string {
  seen.push(token)
  return token
}

/** A unique realm name for one test. */
export function realmName (what: string): string {
  return `${what}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
}

/** A confidential client with service accounts and direct access grants, as the seeds use. */
export function confidentialClient (clientId: string, secret: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    clientId,
    secret,
    enabled: true,
    publicClient: false,
    protocol: 'openid-connect',
    clientAuthenticatorType: 'client-secret',
    serviceAccountsEnabled: true,
    directAccessGrantsEnabled: true,
    standardFlowEnabled: false,
    ...extra,
  }
}

/** A user who can log in with the password grant. */
export function passwordUser (username: string, password: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    username,
    enabled: true,
    email: `${username}@example.org`,
    emailVerified: true,
    firstName: username,
    lastName: 'Test',
    requiredActions: [],
    credentials: [{ type: 'password', value: password, temporary: false }],
    ...extra,
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await startShared()
