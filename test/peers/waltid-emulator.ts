// walt.id wallet-api emulator on loopback (Keycloak login flavour): reproduces the answers documented
// in /work/shared/PROTOCOLS.md ("walt.id wallet API"). Choices PROTOCOLS.md does not settle are
// marked ASSUMPTION (unconfirmed against a real wallet).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomBytes, randomUUID } from 'node:crypto'
import { SignJWT, createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose'
import {
  FaultSwitch, PeerTimers, issuedList, listenPeer, recordRequest, sendJson, type Fault, type RecordedRequest,
} from './peer-kit.js'

export type { Fault, RecordedRequest } from './peer-kit.js'

export type LoginKind = 'password' | 'token' | 'username+token'

/** One login attempt that had a readable body (unreadable ones are only in `requests`). */
export interface WalletLogin {
  username?: string;
  kind: LoginKind;
  ok: boolean;
  status: number;
  time: number;
}

/** One request to a protected route, with the Authorization header it carried. */
export interface ProtectedRequest {
  method: string;
  url: string;
  authorization: string | null;
  status: number;
  /** The session's account id when it was accepted. */
  account: string | null;
  time: number;
}

export interface WalletUser { password: string }

export interface WalletOptions {
  /** Keycloak realm whose user access tokens `token` logins present (checked against JWKS + iss). */
  keycloak?: { issuer: string; jwksUrl: string };
  /**
   * Accounts for username+password logins. The real wallet runs a Keycloak password grant itself;
   * the emulator just checks this map (default {user: {password: 'wallet-pass'}}).
   */
  users?: Record<string, WalletUser>;
  /** Session-token lifetime, default 30 days; fractional allowed (exp = ceil(now + lifetime)). */
  tokenLifetimeSeconds?: number;
  /** Login rate limit per username (token-only logins: per token subject), default 30 per 60 s. */
  rateLimit?: { max: number; windowMs: number };
  /** Pre-late-2024 wallets: a failed login is 400 instead of 500. */
  legacyErrors?: boolean;
}

export interface WalletEmulator {
  root: string;
  /** root + '/wallet-api/auth/login' */
  loginUrl: string;
  /** root + '/wallet-api/auth/keycloak/login' (same behaviour) */
  keycloakLoginUrl: string;
  /** root + '/wallet-api/auth/keycloak/logout' */
  logoutUrl: string;
  /** root + '/wallet-api/auth/keycloak/token' */
  keycloakTokenUrl: string;
  /** Every request, any path. */
  requests: RecordedRequest[];
  /** POSTs to a login route (readable or not, faulted or not). */
  readonly loginRequests: number;
  logins: WalletLogin[];
  /** Parsed logout bodies (`{raw: text}` when the body was not a JSON object). */
  logouts: Array<Record<string, unknown>>;
  protectedRequests: ProtectedRequest[];
  /** Session tokens issued, oldest first. */
  issued: string[];
  /** Make protected routes answer 401 for these session tokens even while valid; null clears. */
  rejectTokens(tokens: Set<string> | 'all' | null): void;
  /** Login-route fault (protected routes, logout and the token route keep working). */
  setFault(f: Fault | null): void;
  /** Extension: change a username+password account's password (or add the account). */
  setPassword(username: string, password: string): void;
  /** Extension: signature + expiry check of a session token; resolves the claims or null. */
  verify(token: string): Promise<JWTPayload | null>;
  close(): Promise<void>;
}

export const DEFAULT_WALLET_USERS: Record<string, WalletUser> = { user: { password: 'wallet-pass' } }
export const WALLET_PREFIX = '/wallet-api'
const LOGIN_PATHS = new Set([`${WALLET_PREFIX}/auth/login`, `${WALLET_PREFIX}/auth/keycloak/login`])
const LOGOUT_PATH = `${WALLET_PREFIX}/auth/keycloak/logout`
const KC_TOKEN_PATH = `${WALLET_PREFIX}/auth/keycloak/token`
const THIRTY_DAYS = 30 * 24 * 3600

class LoginFailure extends Error {}

/** walt.id's StatusPages error body (Ktor exception handler). */
function exceptionBody (status: number, statusText: string, id: string, message: string): Record<string, unknown> {
  return { exception: true, id, status: statusText, code: String(status), message }
}

function isObject (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

export async function startWallet (opts: WalletOptions = {}): Promise<WalletEmulator> {
  const users = new Map(Object.entries(structuredClone(opts.users ?? DEFAULT_WALLET_USERS)))
  const lifetime = opts.tokenLifetimeSeconds ?? THIRTY_DAYS
  const rate = opts.rateLimit ?? { max: 30, windowMs: 60_000 }
  const kc = opts.keycloak
  const jwks = kc ? createRemoteJWKSet(new URL(kc.jwksUrl)) : null
  const sessionKey = randomBytes(32) // the wallet's HS256 session-signing secret
  const clientTokenKey = randomBytes(32) // stands in for the wallet's own Keycloak client

  const requests: RecordedRequest[] = []
  const logins: WalletLogin[] = []
  const logouts: Array<Record<string, unknown>> = []
  const protectedRequests: ProtectedRequest[] = []
  const issued = issuedList('waltid-emulator session token')
  const clientTokens = issuedList('waltid-emulator client token')
  const timers = new PeerTimers()
  const faults = new FaultSwitch(timers)
  const accounts = new Map<string, string>() // account key (username) -> stable account uuid
  const keycloakIds = new Map<string, string>() // account key -> Keycloak user id (sub)
  const windows = new Map<string, { start: number; count: number }>()
  let rejected: Set<string> | 'all' | null = null
  let loginRequests = 0

  const idOf = (map: Map<string, string>, key: string): string => {
    let id = map.get(key)
    if (!id) map.set(key, (id = randomUUID()))
    return id
  }

  /**
   * Fixed window per key, like Ktor's RateLimit plugin (refilled `max` every `windowMs` from the
   * first request). Refused attempts do not consume. Returns the Retry-After seconds when refused.
   */
  function rateLimited (key: string): number | null {
    const now = Date.now()
    let w = windows.get(key)
    if (!w || now - w.start >= rate.windowMs) windows.set(key, (w = { start: now, count: 0 }))
    if (w.count >= rate.max) return Math.max(1, Math.ceil((w.start + rate.windowMs - now) / 1000))
    w.count++
    return null
  }

  async function verifySession (token: string): Promise<JWTPayload | null> {
    try {
      const { payload } = await jwtVerify(token, sessionKey, { algorithms: ['HS256'] })
      return payload
    } catch {
      return null
    }
  }

  async function verifyKeycloak (token: string): Promise<JWTPayload> {
    // ASSUMPTION: without the `keycloak` option a token login cannot be verified, so it fails
    // like a bad token.
    if (!kc || !jwks) throw new LoginFailure('Keycloak token verification is not configured')
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer: kc.issuer })
      return payload
    } catch (err) {
      throw new LoginFailure(`Could not verify Keycloak access token: ${(err as Error).message}`)
    }
  }

  async function session (accountId: string): Promise<string> {
    const nowSec = Date.now() / 1000
    const iat = Math.floor(nowSec)
    const exp = Number.isInteger(lifetime) ? iat + lifetime : Math.ceil(nowSec + lifetime)
    // ASSUMPTION: a `jti` makes two logins within one second yield distinct tokens (replay tests
    // tell sessions apart); the real token's exact claims are not documented.
    const token = await new SignJWT({ sub: accountId, iat, exp, jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(sessionKey)
    issued.push(token)
    return token
  }

  async function login (req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    loginRequests++
    if (await faults.apply(req, res, () => sendJson(res, 200, { id: randomUUID(), keycloakUserId: randomUUID() }))) return
    // ASSUMPTION: unreadable body (not JSON, not an object, no/unsupported `type`, no usable
    // credential combination) → 400 in the StatusPages shape; PROTOCOLS.md only gives the status.
    const unreadable = (): void => sendJson(res, 400, exceptionBody(400, 'Bad Request', 'BadRequestException',
      'Failed to convert request body to class AccountRequest'))
    let parsed: unknown
    try { parsed = JSON.parse(body) } catch { unreadable(); return }
    if (!isObject(parsed) || parsed.type !== 'keycloak') { unreadable(); return }
    const username = str(parsed.username)
    const password = str(parsed.password)
    const token = str(parsed.token)
    // ASSUMPTION: with username, password and token all present the password login wins.
    let kind: LoginKind
    if (username !== undefined && password !== undefined) kind = 'password'
    else if (username !== undefined && token !== undefined) kind = 'username+token'
    else if (token !== undefined) kind = 'token'
    else { unreadable(); return }

    const record = (ok: boolean, status: number): void => {
      logins.push({ ...(username !== undefined ? { username } : {}), kind, ok, status, time: Date.now() })
    }
    let key = username
    if (key === undefined) {
      try { key = String(decodeJwt(token ?? '').sub ?? token) } catch { key = token ?? '' }
    }
    const retryAfter = rateLimited(key)
    if (retryAfter !== null) {
      // ASSUMPTION: Ktor's RateLimit plugin answer: 429, empty body, Retry-After in seconds.
      record(false, 429)
      res.writeHead(429, { 'Retry-After': String(retryAfter), 'Content-Length': 0 }).end()
      return
    }
    try {
      let accountKey: string
      let keycloakUserId: string
      if (kind === 'password') {
        // The real wallet does a Keycloak password grant here; the emulator checks `users`.
        if (users.get(key)?.password !== password) {
          throw new LoginFailure('Keycloak returned error code: 401 Unauthorized ' +
            '{"error":"invalid_grant","error_description":"Invalid user credentials"}')
        }
        accountKey = key
        keycloakUserId = idOf(keycloakIds, key)
      } else {
        const claims = await verifyKeycloak(token ?? '')
        const sub = claims.sub ?? ''
        // ASSUMPTION: username+token accounts are keyed by the given username and the token is
        // only verified (its preferred_username is not compared); token alone uses
        // preferred_username, else sub.
        accountKey = username ?? (typeof claims.preferred_username === 'string' ? claims.preferred_username : sub)
        keycloakUserId = sub
        keycloakIds.set(accountKey, sub)
      }
      const id = idOf(accounts, accountKey)
      const sessionToken = await session(id)
      record(true, 200)
      const maxAge = Math.ceil(lifetime)
      sendJson(res, 200, { id, token: sessionToken, keycloakUserId }, {
        'Set-Cookie': `login=${sessionToken}; Max-Age=${maxAge}; Path=/; HttpOnly`,
      })
    } catch (err) {
      if (!(err instanceof LoginFailure)) throw err
      // PROTOCOLS.md: 500 RuntimeException on current wallets; 400 before late 2024 (ASSUMPTION:
      // same body with the 400 status text).
      const status = opts.legacyErrors ? 400 : 500
      record(false, status)
      sendJson(res, status,
        exceptionBody(status, status === 400 ? 'Bad Request' : 'Internal Server Error', 'RuntimeException', err.message))
    }
  }

  async function protectedRoute (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const authorization = req.headers.authorization ?? null
    // Ktor's bearer auth reads the scheme case-insensitively. ASSUMPTION: the `login` cookie,
    // which the real wallet also accepts, is ignored here.
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
    const token = m?.[1]
    const claims = token && !(rejected === 'all' || rejected?.has(token)) ? await verifySession(token) : null
    const account = typeof claims?.sub === 'string' ? claims.sub : null
    const status = account ? 200 : 401
    protectedRequests.push({ method: req.method ?? 'GET', url: req.url ?? '/', authorization, status, account, time: Date.now() })
    if (account) sendJson(res, 200, { account, path })
    else sendJson(res, 401, { message: 'Login Required' })
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec = await recordRequest(req)
    requests.push(rec)
    const { method, body } = rec
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (LOGIN_PATHS.has(path) || path === LOGOUT_PATH) {
      if (method !== 'POST') {
        // ASSUMPTION: Ktor answers a known path with the wrong method 405.
        res.writeHead(405, { 'Content-Length': 0 }).end()
      } else if (path === LOGOUT_PATH) {
        // Always 200, no revocation (PROTOCOLS.md). ASSUMPTION: empty body.
        let parsed: unknown
        try { parsed = JSON.parse(body) } catch { parsed = null }
        logouts.push(isObject(parsed) ? parsed : { raw: body })
        res.writeHead(200, { 'Content-Length': 0 }).end()
      } else {
        await login(req, res, body)
      }
    } else if (path === KC_TOKEN_PATH && method === 'GET') {
      // A client-credentials Keycloak token as plain text. ASSUMPTION: the emulator mints a
      // stand-in JWT with its own key instead of asking a Keycloak.
      const nowSec = Math.floor(Date.now() / 1000)
      const text = await new SignJWT({
        iss: kc?.issuer ?? 'http://keycloak.invalid/realms/waltid',
        azp: 'waltid_backend',
        typ: 'Bearer',
        iat: nowSec,
        exp: nowSec + 300,
        jti: randomUUID(),
      }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(clientTokenKey)
      clientTokens.push(text)
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': Buffer.byteLength(text) }).end(text)
    } else if (path.startsWith(`${WALLET_PREFIX}/`)) {
      await protectedRoute(req, res, path)
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': 9 }).end('Not Found')
    }
  }

  const server = await listenPeer(handle, (_req, res, err) => {
    sendJson(res, 500, exceptionBody(500, 'Internal Server Error', 'RuntimeException', String(err)))
  }, timers)
  const root = server.origin

  return {
    root,
    loginUrl: `${root}${WALLET_PREFIX}/auth/login`,
    keycloakLoginUrl: `${root}${WALLET_PREFIX}/auth/keycloak/login`,
    logoutUrl: `${root}${LOGOUT_PATH}`,
    keycloakTokenUrl: `${root}${KC_TOKEN_PATH}`,
    requests,
    get loginRequests () { return loginRequests },
    logins,
    logouts,
    protectedRequests,
    issued,
    rejectTokens (tokens) { rejected = tokens }, // a Set is kept by reference: later additions count
    setFault (f) { faults.set(f) },
    setPassword (username, password) { users.set(username, { password }) },
    verify: verifySession,
    close: server.close,
  }
}
