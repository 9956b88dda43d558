// Certified OIDC server (panva's oidc-provider) mounted on Keycloak's realm paths, for client_credentials tests.
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK, type JWTPayload,
} from 'jose'
import {
  FaultSwitch, PeerTimers, issuedList, listenPeer, realmUrls, sendJson, type Fault, type RealmUrls,
} from './peer-kit.js'

/** Faults applied by the wrapper server to token-endpoint POSTs only. */
export type OidcFault = Extract<Fault, { kind: 'down' | 'delay' | 'status' }>

export interface OidcClientConfig {
  client_id: string;
  client_secret?: string;
  /** client_secret_basic (default when a secret is given), client_secret_post or private_key_jwt. */
  token_endpoint_auth_method?: string;
  jwks?: { keys: JWK[] };
}

export interface OidcKeycloakOptions {
  realm?: string;
  legacyAuthPrefix?: boolean;
  clients: OidcClientConfig[];
  /** Access-token TTL in whole seconds (fractions are rounded up), default 300. */
  accessTokenTtl?: number;
}

export interface OidcKeycloak extends RealmUrls {
  /** Resource indicator every client_credentials token is issued for (its `aud` is 'account'). */
  resource: string;
  readonly tokenRequests: number;
  readonly successes: number;
  readonly failures: number;
  issued: string[];
  /** Errors reported by the provider ('grant.error' and 'server_error' events), for debugging. */
  errors: Error[];
  setFault(f: OidcFault | null): void;
  verifyAccessToken(token: string): Promise<JWTPayload>;
  close(): Promise<void>;
}

export const OIDC_SCOPE = 'api:read'
export const OIDC_RESOURCE = 'urn:tokenproxy:upstream'

// oidc-provider ships no type declarations; this is the small slice of its API used here.
interface ProviderContext { body?: unknown }
interface ProviderInstance {
  on(event: 'grant.success', listener: (ctx: ProviderContext) => void): void;
  on(event: 'grant.error' | 'server_error', listener: (ctx: ProviderContext, err: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance

async function loadProvider (): Promise<ProviderConstructor> {
  const specifier: string = 'oidc-provider' // non-literal: keeps tsc from demanding missing typings
  const warn = console.warn
  // oidc-provider 9 warns once at import that Node 20 is an "unsupported runtime"; it works on it.
  console.warn = (...args: unknown[]): void => {
    if (!String(args[0]).includes('Unsupported runtime')) warn(...args)
  }
  try {
    const mod = (await import(specifier)) as { default: ProviderConstructor }
    return mod.default
  } finally {
    console.warn = warn
  }
}

interface Stored { payload: Record<string, unknown>; expiresAt: number }

/** Per-instance in-memory adapter (also keeps oidc-provider from printing its dev-adapter warning). */
function memoryAdapter (): new (model: string) => object {
  const store = new Map<string, Stored>()
  const get = (key: string): Record<string, unknown> | undefined => {
    const hit = store.get(key)
    if (!hit) return undefined
    if (hit.expiresAt <= Date.now()) { store.delete(key); return undefined }
    return hit.payload
  }
  return class MemoryAdapter {
    constructor (readonly model: string) {}
    key (id: string): string { return `${this.model}:${id}` }
    async upsert (id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      store.set(this.key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity })
    }

    async find (id: string): Promise<Record<string, unknown> | undefined> { return get(this.key(id)) }
    async findByUid (): Promise<undefined> { return undefined }
    async findByUserCode (): Promise<undefined> { return undefined }
    async consume (id: string): Promise<void> {
      const p = get(this.key(id))
      if (p) p.consumed = Math.floor(Date.now() / 1000)
    }

    async destroy (id: string): Promise<void> { store.delete(this.key(id)) }
    async revokeByGrantId (): Promise<void> {}
  }
}

export async function startOidcKeycloak (opts: OidcKeycloakOptions): Promise<OidcKeycloak> {
  const Provider = await loadProvider()
  const realm = opts.realm ?? 'test-realm'
  const prefix = opts.legacyAuthPrefix ? '/auth' : ''
  const issuerPath = `${prefix}/realms/${realm}`
  const tokenPath = `${issuerPath}/protocol/openid-connect/token`
  const ttl = Math.ceil(opts.accessTokenTtl ?? 300)

  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const pub = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(pub)
  const signingJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' }
  const localJwks = createLocalJWKSet({ keys: [{ ...pub, kid, alg: 'RS256', use: 'sig' }] })

  const issued = issuedList('oidc-keycloak token')
  const errors: Error[] = []
  const timers = new PeerTimers()
  const faults = new FaultSwitch<OidcFault>(timers)
  let tokenRequests = 0
  let successes = 0
  let failures = 0
  let handler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | null = null

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/'
    const path = url.split('?')[0] ?? '/'
    if (req.method === 'POST' && path === tokenPath) {
      tokenRequests++
      if (await faults.apply(req, res)) return
    }
    if (!handler || (path !== issuerPath && !path.startsWith(`${issuerPath}/`))) {
      req.resume()
      sendJson(res, 404, { error: 'Realm does not exist' })
      return
    }
    // Mount: the provider routes on req.url and derives its mount path from originalUrl.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = url
    req.url = url.slice(issuerPath.length) || '/'
    await handler(req, res)
  }

  const server = await listenPeer(handle, (_req, res) => { res.writeHead(500).end() }, timers)
  const urls = realmUrls(server.origin, prefix, realm)
  const { issuer } = urls

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    jwks: { keys: [signingJwk] },
    clients: opts.clients.map((c) => ({
      client_id: c.client_id,
      ...(c.client_secret !== undefined ? { client_secret: c.client_secret } : {}),
      ...(c.jwks ? { jwks: c.jwks } : {}),
      token_endpoint_auth_method: c.token_endpoint_auth_method ?? (c.jwks && !c.client_secret ? 'private_key_jwt' : 'client_secret_basic'),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: OIDC_SCOPE,
    })),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256'] },
    scopes: [OIDC_SCOPE],
    ttl: { ClientCredentials: () => ttl },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => OIDC_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: OIDC_SCOPE,
          audience: 'account',
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    routes: {
      token: '/protocol/openid-connect/token',
      jwks: '/protocol/openid-connect/certs',
      authorization: '/protocol/openid-connect/auth',
      userinfo: '/protocol/openid-connect/userinfo',
      end_session: '/protocol/openid-connect/logout',
      introspection: '/protocol/openid-connect/token/introspect',
      revocation: '/protocol/openid-connect/revoke',
    },
  })
  provider.on('grant.success', (ctx) => {
    successes++
    const body = ctx.body as { access_token?: unknown } | undefined
    if (typeof body?.access_token === 'string') issued.push(body.access_token)
  })
  provider.on('grant.error', (_ctx, err) => { failures++; errors.push(err) })
  provider.on('server_error', (_ctx, err) => { errors.push(err) })
  provider.on('error', (err) => { errors.push(err) }) // replaces Koa's console logging
  handler = provider.callback()

  return {
    ...urls,
    resource: OIDC_RESOURCE,
    get tokenRequests () { return tokenRequests },
    get successes () { return successes },
    get failures () { return failures },
    issued,
    errors,
    setFault (f) { faults.set(f) },
    async verifyAccessToken (token) {
      const { payload } = await jwtVerify(token, localJwks, { issuer, audience: 'account', algorithms: ['RS256'] })
      return payload
    },
    close: server.close,
  }
}
