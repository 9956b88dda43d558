// A Keycloak-compatible dev identity provider: client_credentials, real RS256 JWTs, Keycloak's paths.
import { randomUUID, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'

export interface DevIdp { root: string, realm: string, clientId: string, clientSecret: string, lifetime: number, close (): Promise<void> }

const send = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body))
}
const same = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))

async function readBody (req: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of req) {
    body += String(chunk)
    if (body.length > 65536) throw new Error('body too large')
  }
  return body
}

/** Client id and secret from the form (client_secret_post) or Basic (RFC 6749 §2.3.1); the form wins. */
function clientOf (req: IncomingMessage, form: URLSearchParams): [string, string] {
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1]
  const [bid = '', bsecret = ''] = basic === undefined ? [] : Buffer.from(basic, 'base64').toString().split(/:(.*)/s)
  const dec = (s: string): string => new URLSearchParams(`v=${s}`).get('v') ?? ''
  return [form.get('client_id') ?? dec(bid), form.get('client_secret') ?? dec(bsecret)]
}

export async function startDevIdp (
  opts: { realm?: string, clientId?: string, clientSecret?: string, lifetime?: number } = {}
): Promise<DevIdp> {
  const realm = opts.realm ?? 'demo'
  const clientId = opts.clientId ?? 'demo-client'
  const clientSecret = opts.clientSecret ?? 'demo-secret'
  const lifetime = opts.lifetime ?? 30
  const kid = randomUUID()
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }
  const base = `/realms/${realm}`
  let issuer = ''

  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method === 'GET' && path === `${base}/.well-known/openid-configuration`) {
      send(res, 200,
        {
          issuer,
          token_endpoint: `${issuer}/protocol/openid-connect/token`,
          jwks_uri: `${issuer}/protocol/openid-connect/certs`,
          grant_types_supported: ['client_credentials'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
        })
      return
    }
    if (req.method === 'GET' && path === `${base}/protocol/openid-connect/certs`) return send(res, 200, { keys: [jwk] })
    if (path !== `${base}/protocol/openid-connect/token`) return send(res, 404, { error: 'Realm does not exist' })
    if (req.method !== 'POST') return send(res, 405, { error: 'HTTP 405 Method Not Allowed' })
    readBody(req).then(async (text) => {
      if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        return send(res, 400, { error: 'invalid_request', error_description: 'Missing form parameter: grant_type' })
      }
      const form = new URLSearchParams(text)
      const [id, secret] = clientOf(req, form)
      if (id !== clientId) {
        return send(res, 401, { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' })
      }
      if (!same(secret, clientSecret)) {
        return send(res, 401, { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' })
      }
      if (form.get('grant_type') !== 'client_credentials') {
        return send(res, 400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' })
      }
      const now = Math.floor(Date.now() / 1000)
      const token = await new SignJWT({
        typ: 'Bearer',
        azp: clientId,
        scope: 'profile email',
        realm_access: { roles: [`default-roles-${realm}`, 'offline_access'] },
        preferred_username: `service-account-${clientId}`,
      })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
        .setIssuer(issuer).setSubject(randomUUID()).setAudience('account').setJti(randomUUID()).setIssuedAt(now).setExpirationTime(now +
          lifetime)
        .sign(privateKey)
      send(res, 200,
        {
          access_token: token,
          expires_in: lifetime,
          refresh_expires_in: 0,
          token_type: 'Bearer',
          'not-before-policy': 0,
          scope: 'profile email',
        })
    }).catch(() => send(res, 400, { error: 'invalid_request', error_description: 'unreadable body' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  issuer = `${root}${base}`
  return {
    root,
    realm,
    clientId,
    clientSecret,
    lifetime,
    close: async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) },
  }
}
