// Keycloak token-endpoint emulator on loopback: reproduces the answers documented in /work/shared/PROTOCOLS.md.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { randomBytes, randomUUID } from 'node:crypto'
import {
  SignJWT, calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, jwtVerify,
  createLocalJWKSet, type JWK, type JWTPayload,
} from 'jose'
import {
  FaultSwitch, NO_STORE, PeerTimers, issuedList, listenPeer, parseBasic, realmUrls, recordRequest, sendJson,
  type Fault, type RealmUrls, type RecordedRequest,
} from './peer-kit.js'

/** Faults only affect POSTs to the token endpoint (discovery and JWKS keep working). */
export type { Fault, RecordedRequest } from './peer-kit.js'

export interface EmulatorClient { secret: string; serviceAccounts?: boolean; enabled?: boolean; directAccessGrants?: boolean }
/**
 * A user as a realm import defines one: such a user holds only the realm roles listed (none by
 * default), so its tokens carry `realm_access` only when `roles` is given, and its name claims only
 * when the names are set.
 */
export interface EmulatorUser {
  password: string
  enabled?: boolean
  roles?: string[]
  firstName?: string
  lastName?: string
  email?: string
}

export interface KeycloakOptions {
  realm?: string;
  legacyAuthPrefix?: boolean;
  /** Access-token lifespan in seconds, default 300; fractional allowed (see accessToken() on how exp is set). */
  lifespan?: number;
  tokenType?: string;
  clients?: Record<string, EmulatorClient>;
  users?: Record<string, EmulatorUser>;
  refreshLifespan?: number;
}

export interface KeycloakEmulator extends RealmUrls {
  requests: RecordedRequest[];
  readonly tokenRequests: number;
  issued: string[];
  publicJwk: JWK;
  setFault(f: Fault | null): void;
  setLifespan(seconds: number): void;
  setClientSecret(clientId: string, secret: string): void;
  revoke(token: string): void;
  /** Checks signature, issuer, expiry and revocation; resolves the claims or null. */
  verify(token: string): Promise<JWTPayload | null>;
  close(): Promise<void>;
}

export const DEFAULT_CLIENTS: Record<string, EmulatorClient> = { 'test-client': { secret: 'test-secret' } }
export const DEFAULT_USERS: Record<string, EmulatorUser> = { alice: { password: 'alice-pass' } }

const INVALID_CLIENT = 'Invalid client or Invalid client credentials'
const SCOPE = 'profile email'

interface RefreshRecord { clientId: string; username: string; userId: string; session: string; exp: number }

class KeycloakError extends Error {
  constructor (readonly status: number, readonly error: string, readonly description: string) {
    super(description)
  }
}

export async function startKeycloak (opts: KeycloakOptions = {}): Promise<KeycloakEmulator> {
  const realm = opts.realm ?? 'test-realm'
  const prefix = opts.legacyAuthPrefix ? '/auth' : ''
  let lifespan = opts.lifespan ?? 300
  const refreshLifespan = opts.refreshLifespan ?? 1800
  const tokenType = opts.tokenType ?? 'Bearer'
  const clients = new Map(Object.entries(structuredClone(opts.clients ?? DEFAULT_CLIENTS)))
  const users = new Map(Object.entries(opts.users ?? DEFAULT_USERS))

  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const pub = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(pub)
  const publicJwk: JWK = { kid, kty: pub.kty, alg: 'RS256', use: 'sig', n: pub.n, e: pub.e }
  const jwks = createLocalJWKSet({ keys: [publicJwk] })
  const refreshKey = randomBytes(64) // Keycloak signs refresh tokens with an HS512 realm secret

  const subjects = new Map<string, string>() // username or service-account name -> stable uuid
  const subjectOf = (name: string): string => {
    let id = subjects.get(name)
    if (!id) subjects.set(name, (id = randomUUID()))
    return id
  }
  const refreshTokens = new Map<string, RefreshRecord>()
  const revoked = new Set<string>()
  const requests: RecordedRequest[] = []
  const issued = issuedList('keycloak-emulator token')
  const timers = new PeerTimers()
  const faults = new FaultSwitch(timers)
  let tokenRequests = 0
  let issuer = ''

  const realmPath = `${prefix}/realms/${realm}`
  const tokenPath = `${realmPath}/protocol/openid-connect/token`
  const certsPath = `${realmPath}/protocol/openid-connect/certs`
  const discoveryPath = `${realmPath}/.well-known/openid-configuration`

  /**
   * exp: integer lifespans give exp = iat + lifespan exactly, like Keycloak. Fractional lifespans
   * (test-only, e.g. 2.5) give exp = ceil(now + lifespan), so the JWT never expires before
   * `expires_in` (which is reported as the raw lifespan) has elapsed.
   */
  async function accessToken (clientId: string, username: string, serviceAccount: boolean, session?: string): Promise<string> {
    const user = users.get(username)
    const nowSec = Date.now() / 1000
    const iat = Math.floor(nowSec)
    const exp = Number.isInteger(lifespan) ? iat + lifespan : Math.ceil(nowSec + lifespan)
    const claims: JWTPayload & Record<string, unknown> = {
      exp,
      iat,
      jti: randomUUID(),
      iss: issuer,
      ...(serviceAccount ? { aud: 'account' } : {}),
      sub: subjectOf(username),
      typ: 'Bearer',
      azp: clientId,
    }
    // Keycloak 26: `sid` only (no `session_state` claim); a service account holds the realm's default roles.
    if (session) Object.assign(claims, { sid: session })
    Object.assign(claims, { acr: '1' })
    if (serviceAccount) {
      Object.assign(claims, {
        realm_access: { roles: [`default-roles-${realm}`, 'offline_access', 'uma_authorization'] },
        resource_access: { account: { roles: ['manage-account', 'manage-account-links', 'view-profile'] } },
      })
    } else if (user?.roles) {
      Object.assign(claims, { realm_access: { roles: user.roles } })
    }
    Object.assign(claims, { scope: SCOPE })
    if (serviceAccount) {
      // Keycloak 26 names the claim client_id (older versions: clientId).
      Object.assign(claims,
        { email_verified: false, clientHost: '127.0.0.1', preferred_username: username, clientAddress: '127.0.0.1', client_id: clientId })
    } else {
      const name = [user?.firstName, user?.lastName].filter(Boolean).join(' ')
      Object.assign(claims, {
        email_verified: user?.email !== undefined,
        ...(name ? { name } : {}),
        preferred_username: username,
        ...(user?.firstName ? { given_name: user.firstName } : {}),
        ...(user?.lastName ? { family_name: user.lastName } : {}),
        ...(user?.email ? { email: user.email } : {}),
      })
    }
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(privateKey)
    issued.push(token)
    return token
  }

  async function refreshToken (rec: Omit<RefreshRecord, 'exp'>): Promise<string> {
    const iat = Math.floor(Date.now() / 1000)
    const exp = iat + refreshLifespan
    const token = await new SignJWT({
      exp,
      iat,
      jti: randomUUID(),
      iss: issuer,
      aud: issuer,
      sub: rec.userId,
      typ: 'Refresh',
      azp: rec.clientId,
      sid: rec.session,
      scope: SCOPE,
    }).setProtectedHeader({ alg: 'HS512', typ: 'JWT' }).sign(refreshKey)
    refreshTokens.set(token, { ...rec, exp })
    issued.push(token)
    return token
  }

  function authenticateClient (form: URLSearchParams, headers: IncomingHttpHeaders): string {
    const basic = parseBasic(headers.authorization, { formDecoded: true })
    if (/^Basic\s/i.test(headers.authorization ?? '') && !basic) {
      // Keycloak 26 answers a Basic header it cannot decode (bad base64, a bad %-escape) with this.
      throw new KeycloakError(400, 'unauthorized_client', 'Unexpected error when authenticating client')
    }
    // Keycloak reads the Basic header first, then lets each form value override it.
    const id = form.get('client_id') ?? basic?.id
    const secret = form.get('client_secret') ?? basic?.secret
    if (!id) throw new KeycloakError(400, 'invalid_client', 'Missing client_id parameter')
    const client = clients.get(id)
    if (!client || client.enabled === false) throw new KeycloakError(401, 'invalid_client', INVALID_CLIENT)
    if (secret !== client.secret) throw new KeycloakError(401, 'unauthorized_client', INVALID_CLIENT)
    return id
  }

  async function grant (form: URLSearchParams, headers: IncomingHttpHeaders): Promise<Record<string, unknown>> {
    const grantType = form.get('grant_type')
    if (!grantType) throw new KeycloakError(400, 'invalid_request', 'Missing form parameter: grant_type')
    if (!['client_credentials', 'password', 'refresh_token'].includes(grantType)) {
      throw new KeycloakError(400, 'unsupported_grant_type', 'Unsupported grant_type')
    }
    const clientId = authenticateClient(form, headers)
    if (grantType === 'client_credentials') {
      if (clients.get(clientId)?.serviceAccounts === false) {
        throw new KeycloakError(401, 'unauthorized_client', 'Client not enabled to retrieve service account')
      }
      const access = await accessToken(clientId, `service-account-${clientId}`, true)
      return {
        access_token: access,
        expires_in: lifespan,
        refresh_expires_in: 0,
        token_type: tokenType,
        'not-before-policy': 0,
        scope: SCOPE,
      }
    }
    let rec: Omit<RefreshRecord, 'exp'>
    if (grantType === 'password') {
      if (clients.get(clientId)?.directAccessGrants === false) {
        throw new KeycloakError(400, 'unauthorized_client', 'Client not allowed for direct access grants')
      }
      const username = form.get('username') ?? ''
      const user = users.get(username)
      // An unknown user gets the wrong-password answer: Keycloak does not tell which it was.
      if (!user) throw new KeycloakError(401, 'invalid_grant', 'Invalid user credentials')
      if (user.enabled === false) throw new KeycloakError(400, 'invalid_grant', 'Account disabled')
      if (form.get('password') !== user.password) throw new KeycloakError(401, 'invalid_grant', 'Invalid user credentials')
      rec = { clientId, username, userId: subjectOf(username), session: randomUUID() }
    } else {
      const presented = form.get('refresh_token') ?? ''
      const found = refreshTokens.get(presented)
      if (!found) throw new KeycloakError(400, 'invalid_grant', 'Invalid refresh token')
      if (found.exp <= Date.now() / 1000 || revoked.has(presented)) {
        throw new KeycloakError(400, 'invalid_grant', 'Token is not active')
      }
      if (found.clientId !== clientId) {
        throw new KeycloakError(400, 'invalid_grant', "Invalid refresh token. Token client and authorized client don't match")
      }
      if (users.get(found.username)?.enabled === false) throw new KeycloakError(400, 'invalid_grant', 'User disabled')
      rec = { clientId, username: found.username, userId: found.userId, session: found.session }
    }
    const access = await accessToken(clientId, rec.username, false, rec.session)
    const refresh = await refreshToken(rec)
    return {
      access_token: access,
      expires_in: lifespan,
      refresh_expires_in: refreshLifespan,
      refresh_token: refresh,
      token_type: tokenType,
      'not-before-policy': 0,
      session_state: rec.session,
      scope: SCOPE,
    }
  }

  async function token (req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    tokenRequests++
    const noToken = (): void => sendJson(res, 200, { expires_in: lifespan, token_type: tokenType, 'not-before-policy': 0, scope: SCOPE },
      NO_STORE)
    if (await faults.apply(req, res, noToken)) return
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    const form = type === 'application/x-www-form-urlencoded' ? new URLSearchParams(body) : new URLSearchParams()
    try {
      sendJson(res, 200, await grant(form, req.headers), NO_STORE)
    } catch (err) {
      if (!(err instanceof KeycloakError)) throw err
      sendJson(res, err.status, { error: err.error, error_description: err.description }, NO_STORE)
    }
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec = await recordRequest(req)
    requests.push(rec)
    const { method, body } = rec
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const m = new RegExp(`^${prefix}/realms/([^/]+)(/.*)?$`).exec(path)
    if (!m) {
      sendJson(res, 404, { error: 'Unable to find matching target resource method' })
    } else if (m[1] !== realm) {
      sendJson(res, 404, { error: 'Realm does not exist' })
    } else if (path === tokenPath) {
      if (method !== 'POST') sendJson(res, 405, { error: 'HTTP 405 Method Not Allowed' })
      else await token(req, res, body)
    } else if (path === certsPath && method === 'GET') {
      sendJson(res, 200, { keys: [publicJwk] })
    } else if (path === discoveryPath && method === 'GET') {
      const oidc = `${issuer}/protocol/openid-connect`
      sendJson(res, 200, {
        issuer,
        authorization_endpoint: `${oidc}/auth`,
        token_endpoint: `${oidc}/token`,
        introspection_endpoint: `${oidc}/token/introspect`,
        userinfo_endpoint: `${oidc}/userinfo`,
        end_session_endpoint: `${oidc}/logout`,
        jwks_uri: `${oidc}/certs`,
        grant_types_supported: ['authorization_code', 'implicit', 'refresh_token', 'password', 'client_credentials'],
        response_types_supported: ['code', 'none', 'id_token', 'token', 'id_token token', 'code id_token', 'code token',
          'code id_token token'],
        subject_types_supported: ['public', 'pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'client_secret_post', 'tls_client_auth',
          'client_secret_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['PS384', 'ES384', 'RS384', 'HS256', 'HS512', 'ES256', 'RS256', 'HS384', 'ES512',
          'PS256', 'PS512', 'RS512'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      })
    } else {
      sendJson(res, 404, { error: 'Unable to find matching target resource method' })
    }
  }

  const server = await listenPeer(handle, (_req, res) => sendJson(res, 500, { error: 'unknown_error' }, NO_STORE), timers)
  const urls = realmUrls(server.origin, prefix, realm)
  issuer = urls.issuer

  return {
    ...urls,
    requests,
    get tokenRequests () { return tokenRequests },
    issued,
    publicJwk,
    setFault (f) { faults.set(f) },
    setLifespan (seconds) { lifespan = seconds },
    setClientSecret (clientId, secret) {
      const existing = clients.get(clientId)
      clients.set(clientId, existing ? { ...existing, secret } : { secret })
    },
    revoke (t) { revoked.add(t) },
    async verify (t) {
      if (revoked.has(t)) return null
      try {
        const { payload } = await jwtVerify(t, jwks, { issuer, algorithms: ['RS256'] })
        return payload
      } catch {
        return null
      }
    },
    close: server.close,
  }
}

/** Decodes a JWT's claims without verifying it (test convenience). */
export function claimsOf (token: string): JWTPayload {
  return decodeJwt(token)
}
