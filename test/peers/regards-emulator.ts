// REGARDS rs-authentication emulator on loopback, plus a REGARDS-service stand-in on the same server.
// Reproduces the answers documented in /work/shared/PROTOCOLS.md ("REGARDS rs-authentication").
// Where PROTOCOLS.md is silent the choice is marked ASSUMPTION (unconfirmed against a real server).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import { SignJWT, jwtVerify, type JWTPayload } from 'jose'
import {
  FaultSwitch, NO_STORE, PeerTimers, issuedList, listenPeer, parseBasic, recordRequest, sendJson, type Fault, type RecordedRequest,
} from './peer-kit.js'

export type { Fault, RecordedRequest } from './peer-kit.js'

export type RegardsVersion = 'v2' | 'v1'

export interface RegardsUser {
  password: string;
  /** Locked account: 400 ACCOUNT_LOCKED whatever the password. */
  locked?: boolean;
  /** Extension: the role put in the answer and the token, default REGISTERED_USER. */
  role?: string;
}

export interface RegardsOptions {
  /** The one project this server knows, default 'project1'. */
  tenant?: string;
  /** OAuth client checked in the Basic header, default client/secret (REGARDS' defaults). */
  client?: { id: string; secret: string };
  users?: Record<string, RegardsUser>;
  /**
   * `expires_in`, default 7199 (V2 default). Integer values give exp = floor(now) + expiresIn;
   * fractional ones (test-only, e.g. 0.5) give exp = ceil(now + expiresIn).
   */
  expiresIn?: number;
  /** v2 (default): JSON body, HS512 tokens. v1: query/form parameters, HS256 tokens. */
  version?: RegardsVersion;
}

export interface RegardsEmulator {
  root: string;
  tenant: string;
  version: RegardsVersion;
  /** root + '/api/v1/rs-authentication/oauth/token' (without ?scope). */
  tokenUrl: string;
  /** Base of the service stand-in: any `/api/v1/rs-<name>/...` path other than the token endpoint. */
  serviceUrl: string;
  /** Every request, any path. */
  requests: RecordedRequest[];
  /** POSTs (and other methods) that reached the token endpoint path. */
  readonly tokenRequests: number;
  /** Requests to the service stand-in. */
  serviceRequests: RecordedRequest[];
  /** Access tokens issued, oldest first. */
  issued: string[];
  /** Token-endpoint fault (the service stand-in keeps working). Same kinds as the Keycloak emulator. */
  setFault(f: Fault | null): void;
  setPassword(user: string, password: string): void;
  /** Extension: change `expires_in` for the next tokens. */
  setExpiresIn(seconds: number): void;
  /** Checks signature, expiry and that this server issued the token; resolves the claims or null. */
  verify(token: string): Promise<JWTPayload | null>;
  close(): Promise<void>;
}

export const DEFAULT_REGARDS_USERS: Record<string, RegardsUser> = { 'user@regards.fr': { password: 'regards-pass' } }
export const TOKEN_PATH = '/api/v1/rs-authentication/oauth/token'
const SERVICE_PATH = /^\/api\/v1\/rs-[^/]+\/.*/

class RegardsError extends Error {
  constructor (readonly status: number, readonly body: Record<string, unknown>, readonly headers: Record<string, string> = {}) {
    super(`REGARDS ${status}`)
  }
}

/** Spring Boot's default error body (BasicErrorController). */
function springError (status: number, error: string, path: string): Record<string, unknown> {
  return { timestamp: new Date().toISOString(), status, error, path }
}

/** REGARDS' authentication failure body (PROTOCOLS.md). */
function accessDenied (user: string, code: string): Record<string, unknown> {
  return { detailMessage: `Access denied for user ${user}`, additionalInformation: { error: code } }
}

function mediaType (headers: IncomingHttpHeaders): string {
  return (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

export async function startRegards (opts: RegardsOptions = {}): Promise<RegardsEmulator> {
  const tenant = opts.tenant ?? 'project1'
  const client = { ...(opts.client ?? { id: 'client', secret: 'secret' }) }
  const users = new Map(Object.entries(structuredClone(opts.users ?? DEFAULT_REGARDS_USERS)))
  const version: RegardsVersion = opts.version ?? 'v2'
  const alg = version === 'v2' ? 'HS512' : 'HS256'
  let expiresIn = opts.expiresIn ?? 7199
  const key = randomBytes(64) // REGARDS signs with a shared secret (jjwt, HS512/HS256)

  const requests: RecordedRequest[] = []
  const serviceRequests: RecordedRequest[] = []
  const issued = issuedList('regards-emulator token')
  const issuedSet = new Set<string>()
  const timers = new PeerTimers()
  const faults = new FaultSwitch(timers)
  let tokenRequests = 0

  async function verify (token: string): Promise<JWTPayload | null> {
    if (!issuedSet.has(token)) return null
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: [alg] })
      return payload
    } catch {
      return null
    }
  }

  async function accessToken (email: string, role: string): Promise<string> {
    const nowSec = Date.now() / 1000
    const exp = Number.isInteger(expiresIn) ? Math.floor(nowSec) + expiresIn : Math.ceil(nowSec + expiresIn)
    // jjwt-style: header {"alg":…} only; claims tenant, role, sub, email, exp; no iss, no iat
    // (PROTOCOLS.md lists exactly these claims).
    const token = await new SignJWT({ tenant, role, sub: email, email, exp }).setProtectedHeader({ alg }).sign(key)
    issued.push(token)
    issuedSet.add(token)
    return token
  }

  /** The request's parameters: V2 from the JSON body, V1 from the query string then the form body. */
  function parameters (req: IncomingMessage, url: URL, body: string): Record<string, string | undefined> {
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
    if (version === 'v2') {
      // ASSUMPTION: Spring's @RequestBody answers a non-JSON content type with 415 and an
      // unparsable body with 400, both in Spring's default error shape.
      if (mediaType(req.headers) !== 'application/json') {
        throw new RegardsError(415, springError(415, 'Unsupported Media Type', TOKEN_PATH))
      }
      let parsed: unknown
      try { parsed = JSON.parse(body) } catch { parsed = null }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new RegardsError(400, springError(400, 'Bad Request', TOKEN_PATH))
      }
      const o = parsed as Record<string, unknown>
      return { username: str(o.username), password: str(o.password), grant_type: str(o.grant_type), scope: str(o.scope) }
    }
    // V1: servlet getParameter() semantics: query string values first, then form-body values.
    const params = new URLSearchParams(url.search)
    if (mediaType(req.headers) === 'application/x-www-form-urlencoded') {
      for (const [k, v] of new URLSearchParams(body)) params.append(k, v)
    }
    const get = (k: string): string | undefined => params.get(k) ?? undefined
    return { username: get('username'), password: get('password'), grant_type: get('grant_type'), scope: get('scope') }
  }

  async function grant (req: IncomingMessage, url: URL, body: string): Promise<Record<string, unknown>> {
    // Spring's Basic parsing: split at the first colon, no form-decoding.
    const basic = parseBasic(req.headers.authorization, { formDecoded: false })
    if (!basic || basic.id !== client.id || basic.secret !== client.secret) {
      throw new RegardsError(401, springError(401, 'Unauthorized', TOKEN_PATH), { 'WWW-Authenticate': 'Basic realm="oauth2/client"' })
    }
    // PROTOCOLS.md: the `scope` query parameter is mandatory even when the body has it.
    const scope = url.searchParams.get('scope')
    if (!scope) throw new RegardsError(401, springError(401, 'Unauthorized', TOKEN_PATH))
    if (req.method !== 'POST') {
      throw new RegardsError(405, springError(405, 'Method Not Allowed', TOKEN_PATH), { Allow: 'POST' })
    }
    const p = parameters(req, url, body)
    // Spring OAuth2 TokenEndpoint wording and shape for grant_type problems (ASSUMPTION: REGARDS
    // keeps Spring's default serialisation for these).
    if (!p.grant_type) throw new RegardsError(400, { error: 'invalid_request', error_description: 'Missing grant type' })
    if (p.grant_type !== 'password') {
      throw new RegardsError(400, { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${p.grant_type}` })
    }
    const email = p.username ?? ''
    // ASSUMPTION (unconfirmed): an unknown tenant (the ?scope value, which wins over the body's
    // `scope`) is a 400 with USER_UNKNOWN ("account has no user in the requested project").
    if (scope !== tenant) throw new RegardsError(400, accessDenied(email, 'USER_UNKNOWN'))
    const user = users.get(email)
    if (!user) throw new RegardsError(400, accessDenied(email, 'ACCOUNT_UNKNOWN'))
    // ASSUMPTION: a locked account is reported as locked before the password is checked.
    if (user.locked) throw new RegardsError(400, accessDenied(email, 'ACCOUNT_LOCKED'))
    // ASSUMPTION: a wrong password is also ACCOUNT_UNKNOWN. PROTOCOLS.md only says "bad password or
    // unknown account → 400"; REGARDS' AuthenticationStatus enum documents ACCOUNT_UNKNOWN as
    // "login or password invalid", so there is no separate BAD_CREDENTIALS code.
    if (p.password !== user.password) throw new RegardsError(400, accessDenied(email, 'ACCOUNT_UNKNOWN'))
    const role = user.role ?? 'REGISTERED_USER'
    const access = await accessToken(email, role)
    // Exactly this key order (PROTOCOLS.md). Note the lowercase "bearer".
    return { token_type: 'bearer', tenant, scope: tenant, role, sub: email, email, access_token: access, expires_in: expiresIn }
  }

  async function token (req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<void> {
    tokenRequests++
    const noToken = (): void => sendJson(res, 200, {
      token_type: 'bearer', tenant, scope: tenant, role: 'REGISTERED_USER', sub: 'user', email: 'user', expires_in: expiresIn,
    }, NO_STORE)
    if (await faults.apply(req, res, noToken)) return
    try {
      sendJson(res, 200, await grant(req, url, body), NO_STORE)
    } catch (err) {
      if (!(err instanceof RegardsError)) throw err
      sendJson(res, err.status, err.body, { ...NO_STORE, ...err.headers })
    }
  }

  /**
   * The service stand-in: like REGARDS' JWT filter, only `Authorization` values that start with
   * `Bearer ` (case-sensitive) are read; the token must be one this server issued, unexpired.
   */
  async function service (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const header = req.headers.authorization ?? ''
    const claims = header.startsWith('Bearer ') ? await verify(header.slice('Bearer '.length).trim()) : null
    if (!claims) {
      sendJson(res, 401, springError(401, 'Unauthorized', path))
      return
    }
    sendJson(res, 200, { tenant: claims.tenant, sub: claims.sub, path })
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec = await recordRequest(req)
    requests.push(rec)
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === TOKEN_PATH) {
      await token(req, res, url, rec.body)
    } else if (SERVICE_PATH.test(url.pathname)) {
      serviceRequests.push(rec)
      await service(req, res, url.pathname)
    } else {
      sendJson(res, 404, springError(404, 'Not Found', url.pathname))
    }
  }

  const server = await listenPeer(handle, (req, res) => sendJson(res, 500, springError(500, 'Internal Server Error', req.url ?? '/')),
    timers)
  const root = server.origin

  return {
    root,
    tenant,
    version,
    tokenUrl: `${root}${TOKEN_PATH}`,
    serviceUrl: root,
    requests,
    get tokenRequests () { return tokenRequests },
    serviceRequests,
    issued,
    setFault (f) { faults.set(f) },
    setPassword (user, password) {
      const existing = users.get(user)
      users.set(user, existing ? { ...existing, password } : { password })
    },
    setExpiresIn (seconds) { expiresIn = seconds },
    verify,
    close: server.close,
  }
}
