// OAuth client authentication for a token request: secret in the form, HTTP Basic, or a signed JWT.
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { Secret } from '../config/secrets.js'
import { basicAuth } from './idp-http.js'

/** What a token request's client authentication reads of a Keycloak credential. */
export interface ClientAuthSettings {
  clientAuth: 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt'
  clientId: string
  /** The assertion's audience. */
  tokenUrl: string
  clientSecret?: Secret
  privateKey?: Secret
  keyId?: string
  alg?: string
}

/** Algorithms Keycloak accepts for "Signed JWT" client authentication: asymmetric only. */
export const ASSERTION_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const

/** The key type an algorithm needs; undefined for an algorithm we do not sign with. */
export function keyTypeFor (alg: string): 'rsa' | 'ec' | undefined {
  if (/^(RS|PS)(256|384|512)$/.test(alg)) return 'rsa'
  if (/^ES(256|384|512)$/.test(alg)) return 'ec'
  return undefined
}

/** Seconds a client assertion stays valid: short, per RFC 7523 §3. */
const ASSERTION_LIFETIME_S = 60

let cachedPem: string | undefined
let cachedKey: KeyObject | undefined

function privateKeyOf (pem: string): KeyObject {
  if (pem !== cachedPem) {
    cachedKey = createPrivateKey(pem)
    cachedPem = pem
  }
  return cachedKey!
}

/** A private_key_jwt client assertion (RFC 7523): iss = sub = client id, aud = token endpoint, fresh jti. */
export async function clientAssertion (cfg: Omit<ClientAuthSettings, 'clientAuth' | 'clientSecret'>,
  nowS = Math.floor(Date.now() / 1000)): Promise<string> {
  const alg = cfg.alg ?? 'RS256'
  return await new SignJWT({})
    .setProtectedHeader({ alg, typ: 'JWT', ...(cfg.keyId === undefined ? {} : { kid: cfg.keyId }) })
    .setIssuer(cfg.clientId)
    .setSubject(cfg.clientId)
    .setAudience(cfg.tokenUrl)
    .setJti(randomUUID())
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + ASSERTION_LIFETIME_S)
    .sign(privateKeyOf(cfg.privateKey!.reveal()))
}

/** Adds the client's authentication to a token request's form and headers. */
export async function applyClientAuth (cfg: ClientAuthSettings, form: URLSearchParams, headers: Record<string, string>): Promise<void> {
  switch (cfg.clientAuth) {
    case 'client_secret_basic':
      headers.authorization = basicAuth(cfg.clientId, cfg.clientSecret?.reveal() ?? '')
      return
    case 'private_key_jwt':
      form.set('client_id', cfg.clientId)
      form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      form.set('client_assertion', await clientAssertion(cfg))
      return
    default:
      form.set('client_id', cfg.clientId)
      // A public client (password grant) has no secret: only its id is sent.
      if (cfg.clientSecret !== undefined) form.set('client_secret', cfg.clientSecret.reveal())
  }
}
